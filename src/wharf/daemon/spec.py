"""Container config + image config -> the command, environment and OCI runtime spec.

Docker's merge rules: the container's Entrypoint/Cmd override the image's (a container Cmd with
no Entrypoint keeps the image's Entrypoint); Env is the image's then the container's (later wins);
WorkingDir and User fall back to the image's. Namespaces: pid, mount, ipc, uts and a new network
namespace (loopback only, Docker's ``--network none``) for every container.

Docker's options that change the spec: ``--init`` bind-mounts the daemon's init (tini) read-only
at ``/sbin/docker-init`` and runs ``/sbin/docker-init -- CMD...``; ``--privileged`` grants every
capability, drops the masked and read-only paths, mounts ``/sys`` read-write and allows every
device (the host's nodes are created in ``/dev``); ``--device`` adds nodes and cgroup rules.
"""

from __future__ import annotations

import functools
import signal as signal_module
from collections.abc import Mapping, Sequence
from typing import Any, Final

from wharf.apitypes import ContainerConfig, HostConfig
from wharf.apitypes.hostopts import DEFAULT_SHM_SIZE, ULIMITS, NamespaceModes
from wharf.errors import InvalidArgument
from wharf.runtime.capabilities import (
    CAPABILITIES,
    DOCKER_DEFAULT,
    CapabilitySets,
    cap_last_cap,
    names_from_mask,
)
from wharf.runtime.cgroups import host_version
from wharf.runtime.seccomp import default_profile

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH",
    "INIT_TARGET",
    "additional_gids",
    "all_capabilities",
    "build_spec",
    "container_capabilities",
    "container_process_options",
    "merge_command",
    "merge_env",
    "parse_signal",
    "parse_user",
    "process_spec",
    "user_ids",
]

DEFAULT_PATH: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker's default set, in capability-number order.
DEFAULT_CAPABILITIES: Final = tuple(sorted(DOCKER_DEFAULT, key=CAPABILITIES.index))
_MASKED: Final = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
_READONLY: Final = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
_CPU_PERIOD: Final = 100_000
INIT_TARGET: Final = "/sbin/docker-init"


def merge_command(config: ContainerConfig, image: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(path, args) of the container's process.

    Raises:
        InvalidArgument: neither the container nor the image gives a command.
    """
    entrypoint = config.entrypoint
    cmd = config.cmd
    if entrypoint is None:
        entrypoint = tuple(image.get("Entrypoint") or ())
        if cmd is None:
            cmd = tuple(image.get("Cmd") or ())
    argv = [*entrypoint, *(cmd or ())]
    if not argv:
        raise InvalidArgument(
            f"image {config.image}: no command specified (the image has no Cmd and no Entrypoint; "
            "give a command after the image name)"
        )
    return argv[0], tuple(argv[1:])


def merge_env(image_env: Sequence[str], env: Sequence[str]) -> list[str]:
    """Image env, then container env; later keys win; PATH defaults like Docker's."""
    merged: dict[str, str] = {}
    for entry in [*image_env, *env]:
        key = entry.split("=", 1)[0]
        merged[key] = entry
    if "PATH" not in merged:
        merged = {"PATH": DEFAULT_PATH, **merged}
    return list(merged.values())


def parse_user(user: str, passwd: str = "", group: str = "") -> tuple[int, int]:
    """``uid[:gid]`` or ``name[:group]`` -> numbers, looking names up in the image's files.

    Raises:
        InvalidArgument: an unknown user or group name.
    """
    if not user:
        return 0, 0
    name, _, grp = user.partition(":")
    uid: int | None = int(name) if name.isdigit() else None
    gid: int | None = None
    if uid is None or not grp:
        for line in passwd.splitlines():
            parts = line.split(":")
            if len(parts) >= 4 and (parts[0] == name or (uid is not None and parts[2] == name)):
                uid, gid = int(parts[2]), int(parts[3])
                break
        if uid is None:
            if name == "root":
                uid, gid = 0, 0
            else:
                raise InvalidArgument(
                    f"unable to find user {name}: no matching entries in passwd file"
                )
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            for line in group.splitlines():
                parts = line.split(":")
                if len(parts) >= 3 and parts[0] == grp:
                    gid = int(parts[2])
                    break
            else:
                raise InvalidArgument(
                    f"unable to find group {grp}: no matching entries in group file"
                )
    return uid, uid if gid is None and uid == 0 else (gid or 0)


def additional_gids(
    user: str,
    uid: int,
    gid: int,
    *,
    passwd: str = "",
    group: str = "",
    group_add: Sequence[str] = (),
) -> list[int]:
    """The groups of a container's process, as moby gives them: ``gid``, every group of the
    image's ``group`` file that lists the user (by name), then ``--group-add`` (numbers, or
    names looked up in ``group``).

    Raises:
        InvalidArgument: a ``--group-add`` name not in the group file.
    """
    entries = [line.split(":") for line in group.splitlines()]
    entries = [e for e in entries if len(e) >= 3 and e[2].isdigit()]
    name = user.partition(":")[0]
    if not name or name.isdigit():
        users = (p for p in (line.split(":") for line in passwd.splitlines()) if len(p) >= 3)
        name = next((p[0] for p in users if p[2] == str(uid)), "root" if uid == 0 else "")
    gids = [gid]
    gids += [int(e[2]) for e in entries if name and len(e) >= 4 and name in e[3].split(",")]
    for wanted in group_add:
        if wanted.isdigit():
            gids.append(int(wanted))
            continue
        found = next((int(e[2]) for e in entries if e[0] == wanted), None)
        if found is None:
            raise InvalidArgument(
                f"Unable to find group {wanted}: no matching entries in group file"
            )
        gids.append(found)
    return list(dict.fromkeys(gids))


def user_ids(
    user: str, files: dict[str, str], group_add: Sequence[str] = ()
) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) of ``user`` with the image's ``files`` (``passwd`` and
    ``group`` texts, as :func:`~wharf.daemon.rootfs.read_etc_files` gives them):
    :func:`parse_user`, then :func:`additional_gids`.

    Raises:
        InvalidArgument: an unknown user, group or ``--group-add`` name.
    """
    passwd, group = files.get("passwd", ""), files.get("group", "")
    uid, gid = parse_user(user, passwd, group)
    gids = additional_gids(user, uid, gid, passwd=passwd, group=group, group_add=group_add)
    return uid, gid, gids


def parse_signal(value: str | int, default: int = signal_module.SIGKILL) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9.

    Raises:
        InvalidArgument: not a known signal.
    """
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if not text:
        return default
    if text.isdigit():
        number = int(text)
        if not 0 < number < 65:
            raise InvalidArgument(f"Invalid signal: {value}")
        return number
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(signal_module.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {value}") from None


@functools.cache
def all_capabilities() -> tuple[str, ...]:
    """What ``--privileged`` grants: every capability the daemon's bounding set holds (moby
    filters its list the same way, so a daemon that lacks one still runs privileged ones)."""
    with open("/proc/self/status") as f:
        bounding = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    held = names_from_mask(bounding & ((1 << (cap_last_cap() + 1)) - 1))
    return tuple(c for c in CAPABILITIES if c in held)


def container_process_options(host: HostConfig) -> dict[str, Any]:
    """The ``process`` fields from ``--security-opt no-new-privileges``, ``--ulimit`` and
    ``--oom-score-adj``: a container's processes', exec'd ones too (moby builds an exec's
    process from the container's)."""
    options = host.options
    out: dict[str, Any] = {"noNewPrivileges": options.no_new_privileges}
    if options.ulimits:
        out["rlimits"] = [
            {"type": ULIMITS[u.name], "soft": u.soft, "hard": u.hard} for u in options.ulimits
        ]
    if options.oom_score_adj:
        out["oomScoreAdj"] = options.oom_score_adj
    return out


def container_capabilities(host: HostConfig) -> tuple[str, ...]:
    """The capabilities a container's processes get: Docker's default set with ``--cap-add``
    and ``--cap-drop`` applied as moby does (``ALL``, names with or without ``CAP_``, any
    case), or :func:`all_capabilities` when privileged.

    Raises:
        InvalidArgument: an unknown capability name (naming the list and the entry).
    """
    if host.privileged:
        return all_capabilities()
    try:
        sets = CapabilitySets.docker_default(host.cap_add, host.cap_drop)
    except InvalidArgument as exc:
        field = (
            str(exc)
            .replace("cap_add", "HostConfig.CapAdd")
            .replace("cap_drop", "HostConfig.CapDrop")
        )
        raise InvalidArgument(field) from None
    return tuple(c for c in CAPABILITIES if c in sets.effective)


def process_spec(
    *,
    args: Sequence[str],
    env: Sequence[str],
    cwd: str,
    uid: int,
    gid: int,
    terminal: bool,
    console_size: tuple[int, int] | None = None,
    capabilities: Sequence[str] = DEFAULT_CAPABILITIES,
    gids: Sequence[int] = (),
) -> dict[str, Any]:
    """The OCI ``process`` object with ``capabilities`` in its bounding, effective and
    permitted sets, and ``gids`` as its additional groups (:func:`additional_gids`)."""
    process: dict[str, Any] = {
        "terminal": terminal,
        "user": {"uid": uid, "gid": gid, **({"additionalGids": list(gids)} if gids else {})},
        "args": list(args),
        "env": list(env),
        "cwd": cwd or "/",
        "capabilities": {key: list(capabilities) for key in ("bounding", "effective", "permitted")},
        "noNewPrivileges": False,
    }
    if terminal and console_size and all(console_size):
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    return process


def _resources(
    host: HostConfig,
    device_rules: Sequence[dict[str, Any]] = (),
    block_io: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    r = host.resources
    out: dict[str, Any] = {
        "devices": [{"allow": False, "access": "rwm"}, *device_rules],
    }
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
        if r.memory_swap == -1:
            memory["swap"] = -1
        elif r.memory_swap:
            memory["swap"] = r.memory_swap
        else:
            memory["swap"] = r.memory * 2
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if host.options.oom_kill_disable and host_version() == 1:  # v2 has none: dockerd drops it
        memory["disableOOMKiller"] = True
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.nano_cpus:
        cpu["period"] = _CPU_PERIOD
        cpu["quota"] = r.nano_cpus * _CPU_PERIOD // 1_000_000_000
    else:
        if r.cpu_period:
            cpu["period"] = r.cpu_period
        if r.cpu_quota:
            cpu["quota"] = r.cpu_quota
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit is not None and r.pids_limit > 0:
        out["pids"] = {"limit": r.pids_limit}
    block = {**(block_io or {}), **({"weight": r.blkio_weight} if r.blkio_weight else {})}
    if block:
        out["blockIO"] = block
    swappiness = host.blkio_devices.swappiness
    if swappiness is not None:
        out.setdefault("memory", {})["swappiness"] = swappiness
    return out


def resources_update(host: HostConfig) -> dict[str, Any]:
    """The OCI ``linux.resources`` for ``runtime.update`` (devices left alone)."""
    out = _resources(host)
    out.pop("devices", None)
    return out


def build_spec(
    *,
    container_id: str,
    config: ContainerConfig,
    host: HostConfig,
    process: dict[str, Any],
    hostname: str,
    cgroup_parent: str = "wharf",
    init_path: str | None = None,
    devices: Sequence[dict[str, Any]] = (),
    device_rules: Sequence[dict[str, Any]] = (),
    donors: Mapping[str, int] | None = None,
    shm: str | None = "",
    block_io: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OCI runtime spec of a container.

    Args:
        init_path: the host's init binary when the container runs with ``--init``.
        devices: ``linux.devices`` entries (mapped devices; every host device if privileged).
        device_rules: devices cgroup rules after the deny-all (allow-all if privileged).
        donors: the pid of the running container whose ``pid`` or ``ipc`` namespace this
            one joins (``--pid``/``--ipc container:<name|id>``).
        shm: ``/dev/shm``: "" a tmpfs of its own, a host path bound there (the host's, or a
            shareable IPC namespace's tmpfs), None none (``--ipc none``).
        block_io: per-device ``linux.resources.blockIO`` entries (weights, throttles).
    """
    privileged = host.privileged
    options = host.options
    shm_kib = (options.shm_size or DEFAULT_SHM_SIZE) // 1024
    process = {**process, **container_process_options(host)}
    mounts: list[dict[str, Any]] = [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "rw" if privileged else "ro"],
        },
        {
            # The container's own cgroups, read-only (moby's; rw when privileged): runtimes
            # in the container (the JVM, Go's automaxprocs) size themselves from them.
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "rw" if privileged else "ro"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
    ]
    if shm:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "bind",
                "source": shm,
                "options": ["rbind", "nosuid", "noexec", "nodev"],
            }
        )
    elif shm is not None:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_kib}k"],
            }
        )
    if init_path is not None:
        mounts.append(
            {
                "destination": INIT_TARGET,
                "type": "bind",
                "source": init_path,
                "options": ["bind", "ro"],
            }
        )
        process = {**process, "args": [INIT_TARGET, "--", *process["args"]]}
    rules = [{"allow": True, "access": "rwm"}] if privileged else list(device_rules)
    linux: dict[str, Any] = {
        "namespaces": _namespaces(host.namespaces, donors or {}),
        "devices": list(devices),
        "sysctl": dict(options.sysctls),
        "cgroupsPath": f"{cgroup_parent}/{container_id}",
        "resources": _resources(host, rules, block_io or {}),
        "maskedPaths": [] if privileged else list(_MASKED),
        "readonlyPaths": [] if privileged else list(_READONLY),
    }
    if not privileged and not options.seccomp_unconfined:
        linux["seccomp"] = seccomp_profile(tuple(process["capabilities"]["bounding"]))
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": host.readonly_rootfs},
        **({} if host.namespaces.uts == "host" else {"hostname": hostname}),
        "mounts": mounts,
        "linux": linux,
        "annotations": {"org.wharf.image": config.image},
    }


def _namespaces(modes: NamespaceModes, donors: Mapping[str, int]) -> list[dict[str, Any]]:
    """``linux.namespaces``: new ones, less those shared with the host, the donors' pid and
    IPC ones joined by path, and a cgroup one if private."""
    out: list[dict[str, Any]] = []
    for kind, mode in (("pid", modes.pid), ("mount", ""), ("ipc", modes.ipc), ("uts", modes.uts)):
        if mode == "host":
            continue
        entry = {"type": kind}
        if mode.startswith("container:"):
            entry["path"] = f"/proc/{donors[kind]}/ns/{kind}"
        out.append(entry)
    if modes.cgroup == "private":
        out.append({"type": "cgroup"})
    return [*out, {"type": "network"}]


@functools.lru_cache(maxsize=16)
def seccomp_profile(capabilities: tuple[str, ...]) -> dict[str, Any]:
    """Docker's default seccomp profile for a container with this bounding set (shared
    between containers: never modified). The runtime caches the filter it compiles by the
    profile's content, and the zygote compiles the default set's ahead."""
    return default_profile(capabilities)
