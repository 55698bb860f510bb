"""``-v``/``--mount`` strings and objects -> :class:`MountSpec` values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from wharf.errors import InvalidArgument

__all__ = ["MountSpec", "parse_bind", "validate_volume_name"]

_NAME: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_MODES: Final = frozenset({"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "rshared"})


def validate_volume_name(name: str) -> str:
    """Check a volume name (Docker's rule: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``).

    Raises:
        InvalidArgument: the name does not follow the rule.
    """
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"volume name {name!r} includes invalid characters for a local volume name, only "
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
        )
    return name


@dataclass(frozen=True)
class MountSpec:
    """One mount of a container.

    Attributes:
        type: ``bind`` (host path), ``volume`` (named or anonymous) or ``tmpfs``.
        target: the absolute path in the container.
        source: the host path of a bind, the volume name ("" for a new anonymous volume).
        read_only: mounted read-only.
        copy_up: fill an empty volume from the image's content at ``target``.
        tmpfs_size: bytes (0: the kernel's default).
        tmpfs_options: a ``--tmpfs`` mount's options, whole (empty: ``--mount``'s).
    """

    type: Literal["bind", "volume", "tmpfs"]
    target: str
    source: str = ""
    read_only: bool = False
    copy_up: bool = True
    tmpfs_size: int = 0
    tmpfs_options: tuple[str, ...] = ()


def parse_bind(spec: str) -> MountSpec:
    """``/host:/ctr[:opts]`` or ``name:/ctr[:opts]`` or ``/ctr`` (anonymous volume).

    Raises:
        InvalidArgument: a relative container path, an unknown option or a bad volume name.
    """
    parts = spec.split(":")
    if len(parts) == 1:
        source, target, opts = "", parts[0], ""
    elif len(parts) == 2:
        source, target, opts = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, target, opts = parts
    else:
        raise InvalidArgument(f"invalid volume specification: {spec!r}")
    if len(parts) > 1 and not source:
        raise InvalidArgument(f"invalid volume specification: {spec!r}: empty source")
    if not target.startswith("/"):
        raise InvalidArgument(
            f"invalid volume specification: {spec!r}: the container path {target!r} must be "
            "absolute"
        )
    if target == "/":
        raise InvalidArgument(f"invalid volume specification: {spec!r}: cannot mount over /")
    modes = [m for m in opts.split(",") if m]
    for mode in modes:
        if mode not in _MODES:
            raise InvalidArgument(
                f"invalid volume specification: {spec!r}: unknown mode {mode!r}; expected ro, "
                "rw or nocopy"
            )
    read_only = "ro" in modes
    if source.startswith("/"):
        return MountSpec("bind", target, source, read_only)
    if source:
        validate_volume_name(source)
    return MountSpec("volume", target, source, read_only, copy_up="nocopy" not in modes)
