"""The OCI runtime: an OCI spec (plus the engine's list of rootfs Mounts) -> an isolated
container, using Linux directly. Like runc's libcontainer, it knows nothing of images,
HTTP or the daemon.

Pipeline: spec (``wharf.oci`` runtime types) -> validated plan -> a raw ``clone(2)`` whose
child is pid 1 of the new namespaces and sets itself up (mounts, pivot_root, hostname,
cgroups, user, rlimits, capabilities, seccomp) before ``execve``.
"""
