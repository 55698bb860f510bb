"""``/dev/shm`` of containers with ``--ipc shareable``, as dockerd does it: a tmpfs the daemon
mounts on the host, under the container's directory, and binds into the container. A container
that joins that IPC namespace (``--ipc container:<it>``) binds the same tmpfs: a mount inside
another container's mount namespace cannot be bound from outside it with ``mount(2)``.

The tmpfs lives while the container runs (made at its set-up, unmounted at its exit and at its
removal), so a restarted container starts with an empty ``/dev/shm``, as with a private one.
"""

from __future__ import annotations

from pathlib import Path

from wharf.mount import Mount, unmount

__all__ = ["SharedShm"]


class SharedShm:
    """The host-side ``/dev/shm`` tmpfs of each shareable container, under ``root/<id>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, container_id: str) -> Path:
        """Where the container's tmpfs is mounted."""
        return self.root / container_id / "shm"

    def mount(self, container_id: str, size: int) -> str:
        """Mount the container's tmpfs of ``size`` bytes (kept if already mounted); its path.

        Raises:
            MountError: the kernel refused.
        """
        path = self.path(container_id)
        path.mkdir(parents=True, exist_ok=True)
        if not path.is_mount():
            options = ("nosuid", "nodev", "noexec", "mode=1777", f"size={size}")
            Mount("tmpfs", "shm", options).mount(str(path))
        return str(path)

    def release(self, container_id: str) -> None:
        """Unmount the container's tmpfs, if it has one (lazily: joiners may still use it)."""
        path = self.path(container_id)
        if path.is_mount():
            unmount(str(path), detach=True)
