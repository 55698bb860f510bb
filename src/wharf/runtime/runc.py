"""``OCIBinaryRuntime``: the engine's runtime interface over any runc-compatible binary.

The engine writes an OCI bundle (``config.json``; the engine's rootfs Mounts mounted on
``<bundle>/rootfs``), and the same per-container monitors as the native path drive
``BINARY create --console-socket`` / ``start`` (the monitor is the container's subreaper,
so it owns stdio, logs and the exit status exactly as for native containers). ``kill``,
``pause``, ``resume`` and ``delete`` call the binary; ``exec`` runs ``BINARY exec --detach``
under an exec monitor.

crun 1.8 refuses hybrid cgroup hosts (``unified/cgroup.controllers`` lists a controller);
on such a host every crun command runs in a private mount namespace with an empty file
bound over that file, so crun uses the v1 hierarchies (see runtime-latency.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharf.mount import Mount, mount_all, unmount
from wharf.runtime._engine_binary import binary_command
from wharf.runtime._engine_types import ContainerIO
from wharf.runtime.cgroups import Resources
from wharf.runtime.config import plan_container
from wharf.runtime.engine import MonitoredRuntime
from wharf.runtime.spec import Spec
from wharf.runtime.zygote import Zygote

__all__ = ["OCIBinaryRuntime"]


class OCIBinaryRuntime(MonitoredRuntime):
    """The runtime interface over ``runc``, ``crun`` or another runc-compatible binary."""

    def __init__(
        self, binary: str = "runc", state_root: str = "", *, zygote: Zygote | None = None
    ) -> None:
        """
        Args:
            binary: a name on $PATH or a path.
            state_root: the engine's state directory for this runtime (the binary's own
                ``--root`` is ``<state_root>/.binary``).
            zygote: the daemon's zygote (see :func:`~wharf.runtime.engine.start_zygote`).

        Raises:
            NotFound: the binary is not installed.
            InvalidArgument: no state root given.
        """
        path = shutil.which(binary)
        if path is None:
            raise NotFound(f"runtime binary {binary!r}: not found on $PATH")
        if not state_root:
            raise InvalidArgument("OCIBinaryRuntime: state_root is required")
        super().__init__(state_root, zygote=zygote)
        self.binary = path
        self._root = os.path.join(self.state_root, ".binary")

    def _run(self, *args: str) -> str:
        proc = subprocess.run(
            binary_command(self.binary, self._root, *args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()
            name = os.path.basename(self.binary)
            raise FailedPrecondition(f"{name} {' '.join(args)}: {message}")
        return proc.stdout.decode()

    def _prepare(
        self,
        container_id: str,
        bundle_dir: str,
        spec: dict[str, Any],
        rootfs: Sequence[Mount],
        io: ContainerIO,
    ) -> dict[str, Any]:
        spec = super()._prepare(container_id, bundle_dir, spec, (), io)
        # Check it here too, so runc and ours refuse bad input with the same messages.
        plan = plan_container(
            Spec.from_json(spec), container_id=container_id, bundle=bundle_dir, rootfs=rootfs
        )
        Resources.from_spec(plan.resources)
        linux = {**(spec.get("linux") or {})}  # a copy: the caller's spec stays as it was
        linux.setdefault("cgroupsPath", f"/wharf/{container_id}")
        spec["linux"] = linux
        if rootfs:
            target = os.path.join(bundle_dir, "rootfs")
            os.makedirs(target, exist_ok=True)
            mount_all(rootfs, target)
            spec["root"] = {**spec.get("root", {}), "path": target}
        with open(os.path.join(bundle_dir, "config.json"), "w") as f:
            json.dump(spec, f)
        return spec

    def _unprepare(self, container_id: str, bundle: str) -> None:
        with contextlib.suppress(FailedPrecondition):
            self._run("delete", "--force", container_id)
        if bundle and os.path.ismount(os.path.join(bundle, "rootfs")):
            unmount(os.path.join(bundle, "rootfs"), detach=True)

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        if not 0 < signal < 65:
            raise InvalidArgument(f"signal {signal}: expected a number from 1 to 64")
        self._running(container_id, "kill")
        try:
            self._run("kill", *(["--all"] if all else []), container_id, str(signal))
        except FailedPrecondition as exc:
            if "not running" in str(exc) or "container not" in str(exc):
                raise Conflict(
                    f"container {container_id}: cannot kill, it is not running"
                ) from None
            raise

    def pause(self, container_id: str) -> None:
        self._running(container_id, "pause")
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._running(container_id, "resume")
        self._run("resume", container_id)
