"""How the engine and the monitors invoke a runc-compatible binary (runc, crun)."""

from __future__ import annotations

import os
from typing import Final

__all__ = ["binary_command"]

_UNIFIED_CONTROLLERS: Final = "/sys/fs/cgroup/unified/cgroup.controllers"


def _hybrid_cgroups() -> bool:
    try:
        with open(_UNIFIED_CONTROLLERS) as f:
            listed = bool(f.read().strip())
    except FileNotFoundError:
        return False
    return listed and os.path.isdir("/sys/fs/cgroup/memory")


def binary_command(binary: str, root: str, *args: str) -> list[str]:
    """The argv for ``BINARY --root ROOT ARGS...``, wrapped for crun on a hybrid host."""
    argv = [binary, "--root", root, *args]
    if os.path.basename(binary) != "crun" or not _hybrid_cgroups():
        return argv
    empty = os.path.join(root, "empty")
    if not os.path.exists(empty):
        os.makedirs(root, exist_ok=True)
        open(empty, "w").close()
    script = 'mount --bind "$0" ' + _UNIFIED_CONTROLLERS + ' && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, empty, *argv]
