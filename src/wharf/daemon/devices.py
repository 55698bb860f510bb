"""Host device nodes for ``--device`` and ``--privileged``, as OCI ``linux.devices`` entries.

``--device /dev/X[:/dev/Y][:rwm]`` gives the container a node with the host node's type, numbers,
mode and owner at ``/dev/Y`` and a devices cgroup rule allowing ``rwm`` (a directory maps every
node under it; a symlink is followed first). ``--privileged`` gives it every node of the host's
``/dev`` (runc's list: not ``pts``, ``shm``, ``mqueue``, ``fd``, the console or fifos) and
allows all devices.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import Any, Final

from wharf.apitypes import DeviceMapping
from wharf.apitypes.hostopts import BlkioDevices
from wharf.errors import InvalidArgument

__all__ = ["blkio_entries", "host_devices", "mapped_devices", "rule_entries"]

# runc's libcontainer/devices GetDevices skips these directories and names.
_SKIP_DIRS: Final = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
# ptmx: the container's /dev/ptmx is a symlink to its own devpts instance's ptmx.
_SKIP_NAMES: Final = frozenset({"console", "ptmx"})


def _node(path: str, container_path: str) -> dict[str, Any] | None:
    """The ``linux.devices`` entry of the node at ``path`` (None: not a device node)."""
    st = os.lstat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return {
        "path": container_path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _walk(root: str) -> Iterator[str]:
    """Paths of the entries under ``root`` (recursively, skipping runc's directories)."""
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in _SKIP_DIRS:
                yield from _walk(entry.path)
        elif entry.name not in _SKIP_NAMES:
            yield entry.path


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every char and block device node under ``root``, at the same path in the container."""
    out = []
    for path in sorted(_walk(root)):
        try:
            node = _node(path, path)
        except FileNotFoundError:
            continue  # went away while we looked
        if node is not None:
            out.append(node)
    return out


def mapped_devices(
    mappings: tuple[DeviceMapping, ...],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``linux.devices`` entries, devices cgroup rules) for ``HostConfig.Devices``.

    Raises:
        InvalidArgument: a host path that does not exist or is neither a device node nor a
            directory holding some (Docker's message), or a container path outside /dev.
    """
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for mapping in mappings:
        host = mapping.path_on_host
        resolved = os.path.realpath(host) if os.path.islink(host) else host
        try:
            node = _node(resolved, mapping.path_in_container)
        except OSError as exc:
            raise InvalidArgument(
                "error gathering device information while adding custom device "
                f'"{host}": {os.strerror(exc.errno or 0).lower()}'
            ) from None
        found = [node] if node is not None else []
        if node is None and os.path.isdir(resolved):
            for path in sorted(_walk(resolved)):
                inside = mapping.path_in_container + path[len(resolved) :]
                with contextlib.suppress(FileNotFoundError):
                    if (inner := _node(path, inside)) is not None:
                        found.append(inner)
        if not found:
            raise InvalidArgument(
                "error gathering device information while adding custom device "
                f'"{host}": not a device node'
            )
        if not mapping.path_in_container.startswith("/dev/"):
            raise InvalidArgument(
                f'device "{host}": the path in the container {mapping.path_in_container!r} is '
                "not under /dev/ (device nodes live in the container's /dev)"
            )
        for entry in found:
            devices.append(entry)
            rules.append(
                {
                    "allow": True,
                    "type": entry["type"],
                    "major": entry["major"],
                    "minor": entry["minor"],
                    "access": mapping.cgroup_permissions,
                }
            )
    return devices, rules


def rule_entries(rules: tuple[str, ...]) -> list[dict[str, Any]]:
    """OCI ``linux.resources.devices`` allow entries of ``--device-cgroup-rule`` rules
    (validated: ``TYPE MAJOR:MINOR ACCESS``; ``*`` leaves the number out, any)."""
    entries = []
    for rule in rules:
        kind, numbers, access = rule.split()
        entry: dict[str, Any] = {"allow": True, "type": kind}
        for key, number in zip(("major", "minor"), numbers.split(":"), strict=True):
            if number != "*":
                entry[key] = int(number)
        entries.append({**entry, "access": access})
    return entries


_THROTTLE_KEYS: Final = {
    "BlkioDeviceReadBps": "throttleReadBpsDevice",
    "BlkioDeviceWriteBps": "throttleWriteBpsDevice",
    "BlkioDeviceReadIOps": "throttleReadIOPSDevice",
    "BlkioDeviceWriteIOps": "throttleWriteIOPSDevice",
}


def blkio_entries(devices: BlkioDevices) -> dict[str, Any]:
    """OCI ``linux.resources.blockIO`` per-device entries of ``devices``, each path's major
    and minor read from the host's node.

    Raises:
        InvalidArgument: a path that is not a block device, named with its field.
    """
    out: dict[str, list[dict[str, int]]] = {}
    for path, weight in devices.weights:
        major, minor = _block_device("BlkioWeightDevice", path)
        out.setdefault("weightDevice", []).append(
            {"major": major, "minor": minor, "weight": weight}
        )
    for key, path, rate in devices.throttles:
        major, minor = _block_device(key, path)
        out.setdefault(_THROTTLE_KEYS[key], []).append(
            {"major": major, "minor": minor, "rate": rate}
        )
    return out


def _block_device(key: str, path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        # Not "no such file or directory": the docker CLI reads that as a missing command.
        raise InvalidArgument(f"HostConfig.{key}: {path!r} does not exist") from None
    except OSError as exc:
        raise InvalidArgument(
            f"HostConfig.{key}: {path!r}: {os.strerror(exc.errno or 0).lower()}"
        ) from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidArgument(f"HostConfig.{key}: {path!r} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)
