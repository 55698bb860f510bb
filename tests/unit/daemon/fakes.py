"""A fake runtime (processes simulated, exits delivered through pipes) and image store."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import IO, Any

from wharf.apitypes import Change, HistoryEntry, ImageDeleteItem
from wharf.daemon.ports import ImageRecord
from wharf.errors import NotFound
from wharf.mount import Mount


@dataclass(frozen=True)
class FakeState:
    id: str
    status: str
    pid: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    error: str = ""
    monitor_pid: int = 0


class FakeRuntime:
    """Containers as records; ``exit(cid, code)`` simulates the process exiting."""

    def __init__(self) -> None:
        self.states: dict[str, FakeState] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self.pipes: dict[str, tuple[int, int]] = {}
        self.signals: list[tuple[str, int]] = []
        self.exit_on_signal: dict[int, int] = {15: 143, 9: 137}
        self.missing_commands: set[str] = set()
        self.creates = 0

    def create(self, container_id, *, bundle_dir, spec, rootfs, io) -> FakeState:
        if spec["process"]["args"][0] in self.missing_commands:
            raise NotFound(f"{spec['process']['args'][0]}: not found")
        self.creates += 1
        self.specs[container_id] = spec
        self.states[container_id] = FakeState(id=container_id, status="created", pid=1000)
        self.pipes[container_id] = os.pipe()
        return self.states[container_id]

    def start(self, container_id: str) -> None:
        self.states[container_id] = replace(
            self.states[container_id], status="running", started_at="2026-01-01T00:00:00.0Z"
        )

    def exit(self, container_id: str, code: int) -> None:
        self.states[container_id] = replace(
            self.states[container_id],
            status="stopped",
            pid=0,
            exit_code=code,
            finished_at="2026-01-01T00:00:01.0Z",
        )
        os.write(self.pipes[container_id][1], b"x")

    def state(self, container_id: str) -> FakeState:
        if container_id not in self.states:
            raise NotFound(f"container {container_id}: not found")
        return self.states[container_id]

    def list(self) -> list[FakeState]:
        return list(self.states.values())

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        self.signals.append((container_id, signal))
        if signal in self.exit_on_signal and self.states[container_id].status == "running":
            self.exit(container_id, self.exit_on_signal[signal])

    def pause(self, container_id: str) -> None:
        self.states[container_id] = replace(self.states[container_id], status="paused")

    def resume(self, container_id: str) -> None:
        self.states[container_id] = replace(self.states[container_id], status="running")

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self.states.pop(container_id, None)
        for fd in self.pipes.pop(container_id, ()):
            os.close(fd)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        self.specs[container_id]["linux"]["resources"].update(resources)

    def exit_fd(self, container_id: str) -> int:
        return os.dup(self.pipes[container_id][0])

    def attach_path(self, container_id: str) -> str:
        return f"/nonexistent/{container_id}.sock"

    def resize(self, container_id: str, height: int, width: int) -> None:
        pass

    def close(self) -> None:
        for r, w in self.pipes.values():
            os.close(r)
            os.close(w)
        self.pipes.clear()


BUSYBOX = ImageRecord(
    id="sha256:" + "b" * 64,
    repo_tags=("busybox:latest",),
    created="2026-01-01T00:00:00Z",
    size=1000,
    config={"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": ""},
)
NOCMD = ImageRecord(id="sha256:" + "c" * 64, repo_tags=("nocmd:latest",), config={})


class FakeImages:
    def __init__(self) -> None:
        self.images = {BUSYBOX.id: BUSYBOX, NOCMD.id: NOCMD}
        self.prepared: set[str] = set()
        self.removed: list[str] = []

    def resolve(self, ref: str) -> ImageRecord:
        for image in self.images.values():
            if ref in (image.id, *image.repo_tags) or f"{ref}:latest" in image.repo_tags:
                return image
            if len(ref) >= 4 and image.id.removeprefix("sha256:").startswith(ref):
                return image
        raise NotFound(f"image {ref}: not found")

    def list(self) -> list[ImageRecord]:
        return list(self.images.values())

    def history(self, ref: str) -> list[HistoryEntry]:
        return []

    def tag(self, ref: str, new_ref: str) -> None:
        image = self.resolve(ref)
        self.images[image.id] = replace(image, repo_tags=(*image.repo_tags, new_ref))

    def remove(self, ref: str, *, force: bool, prune: bool) -> list[ImageDeleteItem]:
        image = self.resolve(ref)
        del self.images[image.id]
        return [ImageDeleteItem(deleted=image.id)]

    def load(self, stream: IO[bytes]) -> list[str]:
        data = stream.read()
        return [f"loaded-{len(data)}:latest"]

    def save(self, refs: Any, out: IO[bytes]) -> None:
        out.write(b"archive:" + ",".join(refs).encode())

    def import_rootfs(self, stream: IO[bytes], ref: Any, changes: Any, message: str) -> str:
        stream.read()
        return "sha256:" + "d" * 64

    def prepare_container(self, container_id: str, image_id: str) -> list[Mount]:
        self.prepared.add(container_id)
        return []

    def container_mounts(self, container_id: str) -> list[Mount]:
        if container_id not in self.prepared:
            raise NotFound(f"container {container_id}: no snapshot")
        return []

    def container_file(self, container_id: str, path: str) -> bytes | None:
        self.container_mounts(container_id)
        return None  # the fake images have no /etc files

    def remove_container(self, container_id: str) -> None:
        self.prepared.discard(container_id)
        self.removed.append(container_id)

    def changes(self, container_id: str) -> list[Change]:
        return [Change(path="/tmp/x", kind=1)]

    def commit(self, container_id: str, *, ref: Any, config: Any, author: str, message: str) -> str:
        self.committed = (container_id, ref, config)
        return "sha256:" + "e" * 64

    def export_container(self, container_id: str, out: IO[bytes]) -> None:
        out.write(b"rootfs-tar")

    def prune(self, *, dangling_only: bool, in_use: set[str]) -> tuple[list[str], int]:
        return [], 0

    def usage(self) -> int:
        return 1000
