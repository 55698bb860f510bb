"""The OCI runtime: an OCI spec (plus the engine's list of rootfs Mounts) -> an isolated
container, using Linux directly. Like runc's libcontainer, it knows nothing of images,
HTTP or the daemon.

Pipeline (each step a module; this package imports none of them, so the CLI and the
engine's zygote pay only for what they use):

- :mod:`.spec` -- ``Spec.from_json(obj)``: the typed, validated ``config.json``; errors
  name the field (``linux.namespaces[2].type: ...``).
- :mod:`.config` -- ``plan_container(spec, container_id=, bundle=, rootfs=[Mount...])``
  -> ``Plan``: plain values only (clone flags, joins, id maps, mount steps, devices, paths,
  ``ProcessPlan``); ``plan_process`` and ``plan_exec`` for exec.
- :mod:`.launch` (parent) -- ``launch(plan, handles=, on_hooks=)`` does one raw
  ``clone(2)`` and returns ``Launched(pid, sync)`` once pid 1 is set up and blocked before
  execve, or raises the child's error kind (``sync.ExecutableNotFound`` -> 127,
  ``sync.NotExecutable`` -> 126) after reaping it. ``launch_exec`` enters a running
  container. ``prepare_security`` compiles capabilities and seccomp in the parent.
- :mod:`.init` (child) -- ``child_main(plan, sync, handles=ChildHandles(...))``: the
  ordered set-up (maps, setns, cgroups, rootfs, pivot_root, sysctls, masked paths,
  hostname, rlimits, user, capabilities, ...) then waits for start and execs;
  ``exec_child_main`` for exec. :mod:`.rootfs` holds the mount steps, :mod:`.sync` the
  parent/child messages, :mod:`.hooks` the OCI hooks.
- :mod:`.cgroups`, :mod:`.capabilities`, :mod:`.seccomp` -- resource limits, the five
  capability sets, BPF filters (prepared in the parent, applied in the child).
- :mod:`.state` and :mod:`.container` -- runc's cross-process model for the
  ``wharf-runtime`` CLI (:mod:`.cli`): ``ROOT/ID/state.json`` + ``exec.fifo``, status
  derived live (creating/created/running/paused/stopped).
"""
