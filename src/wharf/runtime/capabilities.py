"""Linux capabilities: names <-> numbers, the spec's five sets, and applying them.

``CapabilitySets.from_spec(process.capabilities)`` validates names (unknown ones raise
:class:`~wharf.errors.InvalidArgument` naming the field). ``sets.prepare()`` turns them
into plain integers in the parent; ``PreparedCapabilities.apply()`` then runs in the
cloned child using only pre-resolved calls from :mod:`wharf.runtime.syscalls`, in runc's
order:

1. drop from the bounding set every capability not in ``bounding`` (PR_CAPBSET_DROP;
   needs CAP_SETPCAP, so it comes first);
2. for a non-root user: PR_SET_KEEPCAPS, setgroups/setresgid/setresuid, then clear
   KEEPCAPS (without it, setresuid to non-zero uids empties the permitted set);
3. capset(effective, permitted, inheritable);
4. clear the ambient set and raise ``ambient`` (a capability is raised only if it is
   also permitted and inheritable, as the kernel requires; others are skipped, as runc
   skips them with a warning).

Capabilities the running kernel does not know (above ``/proc/sys/kernel/cap_last_cap``)
are accepted in the spec and ignored, as runc does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from wharf.errors import InvalidArgument
from wharf.runtime import syscalls

__all__ = [
    "CAPABILITIES",
    "DOCKER_DEFAULT",
    "CapabilitySets",
    "PreparedCapabilities",
    "cap_last_cap",
    "cap_name",
    "cap_number",
    "mask",
    "names_from_mask",
]

CAPABILITIES: Final[tuple[str, ...]] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
"""Capability names indexed by number (``CAPABILITIES[21] == "CAP_SYS_ADMIN"``)."""

_NUMBERS: Final[dict[str, int]] = {name: i for i, name in enumerate(CAPABILITIES)}

# Docker's default set (moby oci/caps/defaults.go): what `docker run` grants.
DOCKER_DEFAULT: Final[frozenset[str]] = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)

_PR_SET_KEEPCAPS: Final = 8
_PR_CAPBSET_DROP: Final = 24
_PR_CAP_AMBIENT: Final = 47
_PR_CAP_AMBIENT_RAISE: Final = 2
_PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
_SETS: Final = ("bounding", "effective", "inheritable", "permitted", "ambient")


def cap_number(name: str) -> int:
    """The number of a capability name (``"CAP_KILL"`` -> 5).

    Raises:
        InvalidArgument: not a capability name.
    """
    try:
        return _NUMBERS[name]
    except KeyError:
        raise InvalidArgument(f"capability {name!r}: unknown (expected CAP_CHOWN ...)") from None


def cap_name(number: int) -> str:
    """The name of a capability number (5 -> ``"CAP_KILL"``)."""
    if not 0 <= number < len(CAPABILITIES):
        raise InvalidArgument(f"capability {number}: unknown (expected 0..{len(CAPABILITIES) - 1})")
    return CAPABILITIES[number]


@cache
def cap_last_cap() -> int:
    """The highest capability number the running kernel knows (read once)."""
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
        return int(f.read())


def mask(names: Iterable[str]) -> int:
    """The bit mask of capability names, as ``/proc/PID/status`` shows it (CapEff: ...)."""
    out = 0
    for name in names:
        out |= 1 << cap_number(name)
    return out


def names_from_mask(value: int) -> frozenset[str]:
    """The names of the bits set in a capability mask (unknown high bits are dropped)."""
    return frozenset(n for i, n in enumerate(CAPABILITIES) if value >> i & 1)


@dataclass(frozen=True)
class CapabilitySets:
    """The five capability sets of ``process.capabilities``, by name."""

    bounding: frozenset[str] = frozenset()
    effective: frozenset[str] = frozenset()
    inheritable: frozenset[str] = frozenset()
    permitted: frozenset[str] = frozenset()
    ambient: frozenset[str] = frozenset()

    @classmethod
    def from_spec(cls, obj: object, name: str = "process.capabilities") -> CapabilitySets:
        """Validate ``process.capabilities`` (None: every set empty, as the spec says).

        Raises:
            InvalidArgument: not an object, an unknown set, or an unknown capability name;
                the message names the field (``process.capabilities.bounding[2]``).
        """
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise InvalidArgument(f"{name}: must be an object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - set(_SETS))
        if unknown:
            raise InvalidArgument(
                f"{name}: unknown set {unknown[0]!r} (expected {', '.join(_SETS)})"
            )
        return cls(**{s: _names(obj.get(s), f"{name}.{s}") for s in _SETS})

    @classmethod
    def docker_default(
        cls, add: Iterable[str] = (), drop: Iterable[str] = (), *, privileged: bool = False
    ) -> CapabilitySets:
        """What ``docker run`` grants: Docker's 14, with ``--cap-add``/``--cap-drop``
        applied the way moby does (names with or without ``CAP_``, any case; ``ALL`` in
        add grants every capability but the dropped ones, ``ALL`` in drop keeps only the
        added ones; ``--privileged`` grants all). Bounding, effective and permitted get the
        set; inheritable and ambient stay empty (moby stopped granting inheritable
        capabilities for CVE-2022-24769).

        Raises:
            InvalidArgument: an unknown name, naming ``cap_add[i]``/``cap_drop[i]``.
        """
        adds = _docker_names(add, "cap_add")
        drops = _docker_names(drop, "cap_drop")
        everything = frozenset(CAPABILITIES)
        if privileged or "ALL" in adds:
            caps = everything - (drops - {"ALL"})
        elif "ALL" in drops:
            caps = adds
        else:
            caps = (DOCKER_DEFAULT | adds) - drops
        return cls(bounding=caps, effective=caps, permitted=caps)

    def prepare(self, last_cap: int | None = None) -> PreparedCapabilities:
        """Precompute the masks and call lists :meth:`PreparedCapabilities.apply` needs.

        Args:
            last_cap: the kernel's highest capability; default: read from /proc.
        """
        last = cap_last_cap() if last_cap is None else last_cap
        known = (1 << (last + 1)) - 1
        bounding = mask(self.bounding) & known
        permitted = mask(self.permitted) & known
        inheritable = mask(self.inheritable) & known
        ambient = mask(self.ambient) & permitted & inheritable
        return PreparedCapabilities(
            drop=tuple(i for i in range(last + 1) if not bounding >> i & 1),
            effective=mask(self.effective) & known,
            permitted=permitted,
            inheritable=inheritable,
            ambient=tuple(i for i in range(last + 1) if ambient >> i & 1),
        )


def _docker_names(values: Iterable[str], field: str) -> frozenset[str]:
    out = set()
    for i, value in enumerate(values):
        name = value.upper() if isinstance(value, str) else ""
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in _NUMBERS:
            raise InvalidArgument(f"{field}[{i}]: unknown capability {value!r}")
        out.add(name)
    return frozenset(out)


def _names(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: must be an array of names, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or item not in _NUMBERS:
            raise InvalidArgument(
                f"{field}[{i}]: unknown capability {item!r} (expected a name like CAP_KILL)"
            )
    return frozenset(value)


@dataclass(frozen=True)
class PreparedCapabilities:
    """Capability sets as numbers, ready to apply in a child that must not allocate much.

    Attributes:
        drop: capability numbers to remove from the bounding set.
        effective, permitted, inheritable: masks for capset(2).
        ambient: capability numbers to raise in the ambient set.
        capset_args: the capset(2) arguments for the three masks, built with the value.
    """

    drop: tuple[int, ...]
    effective: int
    permitted: int
    inheritable: int
    ambient: tuple[int, ...]
    capset_args: syscalls.CapsetArgs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built here, in the parent: the child only makes the call.
        capset = syscalls.CapsetArgs(self.effective, self.permitted, self.inheritable)
        object.__setattr__(self, "capset_args", capset)

    def drop_bounding(self) -> None:
        """Remove the capabilities not in the bounding set (needs CAP_SETPCAP)."""
        syscalls.prctl_each(_PR_CAPBSET_DROP, self.drop)

    def set_sets(self) -> None:
        """capset the effective/permitted/inheritable sets, then set the ambient set."""
        self.capset_args.apply()
        syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
        for cap in self.ambient:
            syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap)

    def apply(
        self,
        *,
        uid: int = 0,
        gid: int = 0,
        additional_gids: Sequence[int] = (),
    ) -> None:
        """Drop the bounding set, switch to ``uid``/``gid`` keeping capabilities, set the
        other sets. Call in the child, after everything that needs privileges
        (mounts, sethostname, cgroup joins) and before loading seccomp/execve.

        Raises:
            PermissionDenied: the caller lacks a capability it asks to keep, or the ids
                are not mapped in its user namespace.
        """
        self.drop_bounding()
        syscalls.prctl(_PR_SET_KEEPCAPS, 1)
        try:
            os.setgroups(list(additional_gids))
        except PermissionError:
            # In a user namespace with setgroups "deny" (written before a gid_map by an
            # unprivileged mapper), only clearing to no groups is impossible and moot.
            if additional_gids:
                raise
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        syscalls.prctl(_PR_SET_KEEPCAPS, 0)
        self.set_sets()
