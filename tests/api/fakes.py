"""Small in-memory backends for driving the API app without a daemon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from wharf.api.backends import AttachOptions, Backends, ByteStream, HijackedConn, LogOptions
from wharf.apitypes import (
    ContainerCreate,
    ContainerState,
    ContainerView,
    DiskUsage,
    Event,
    ExecConfig,
    ExecView,
    HistoryEntry,
    ImageDeleteItem,
    ImageView,
    PathStat,
    PruneReport,
    SystemInfo,
    TopResult,
    VersionInfo,
    WaitResult,
)
from wharf.apitypes.stream import STDOUT, frame
from wharf.errors import Conflict, NotFound, NotModified


class FakeSystem:
    def __init__(self) -> None:
        self.events_queue: asyncio.Queue[Event] = asyncio.Queue()

    def version(self) -> VersionInfo:
        return VersionInfo(version="0.1.0", kernel_version="6.18")

    def info(self) -> SystemInfo:
        return SystemInfo(
            id="x",
            name="host",
            server_version="0.1.0",
            containers=0,
            containers_running=0,
            containers_paused=0,
            containers_stopped=0,
            images=0,
            docker_root_dir="/tmp",
            kernel_version="6.18",
            operating_system="Debian",
            ncpu=2,
            mem_total=1,
            default_runtime="wharf",
            runtimes=("wharf",),
        )

    async def disk_usage(self) -> DiskUsage:
        return DiskUsage(layers_size=0, images=(), containers=())

    async def events(
        self, *, since: float | None, until: float | None, filters: Any
    ) -> AsyncIterator[Event]:
        while True:
            yield await self.events_queue.get()


class EchoSession:
    """Echoes stdin back as stdout frames (or raw when tty) until the client half-closes."""

    def __init__(self, tty: bool, greeting: bytes = b"") -> None:
        self._tty = tty
        self.greeting = greeting

    @property
    def tty(self) -> bool:
        return self._tty

    async def run(self, upgrade: Callable[[], Awaitable[HijackedConn]]) -> None:
        conn = await upgrade()
        if self.greeting:
            await conn.write(self.greeting if self._tty else frame(STDOUT, self.greeting))
        while data := await conn.read():
            await conn.write(data if self._tty else frame(STDOUT, data))
        await conn.write(b"bye" if self._tty else frame(STDOUT, b"bye"))


class FakeContainers:
    def __init__(self) -> None:
        self.created: dict[str, ContainerCreate] = {}
        self.names: dict[str, str] = {}
        self.running: set[str] = set()
        self.exit: asyncio.Future[int] | None = None
        self.calls: list[tuple[str, Any]] = []

    def _resolve(self, ref: str) -> str:
        if ref in self.created:
            return ref
        if ref in self.names:
            return self.names[ref]
        raise NotFound(f"No such container: {ref}")

    def create(self, spec: ContainerCreate, *, name: str | None) -> tuple[str, list[str]]:
        if name in self.names:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use')
        cid = f"{len(self.created) + 1:064x}"
        self.created[cid] = spec
        if name:
            self.names[name] = cid
        return cid, []

    def start(self, ref: str) -> None:
        cid = self._resolve(ref)
        if cid in self.running:
            raise NotModified(f"container {ref} is already running")
        self.running.add(cid)

    async def stop(self, ref: str, *, timeout: int | None) -> None:
        cid = self._resolve(ref)
        if cid not in self.running:
            raise NotModified(f"container {ref} is not running")
        self.calls.append(("stop", timeout))
        self.running.discard(cid)

    async def restart(self, ref: str, *, timeout: int | None) -> None:
        self._resolve(ref)

    def kill(self, ref: str, *, signal: str) -> None:
        self._resolve(ref)
        self.calls.append(("kill", signal))

    def pause(self, ref: str) -> None:
        self._resolve(ref)

    def unpause(self, ref: str) -> None:
        self._resolve(ref)

    def wait(self, ref: str, *, condition: str) -> Any:
        self._resolve(ref)
        self.exit = asyncio.get_running_loop().create_future()
        exit_future = self.exit

        async def waiter() -> WaitResult:
            return WaitResult(status_code=await exit_future)

        return waiter()

    def inspect(self, ref: str, *, size: bool = False) -> ContainerView:
        cid = self._resolve(ref)
        spec = self.created[cid]
        name = next((n for n, c in self.names.items() if c == cid), "anon")
        return ContainerView(
            id=cid,
            name=name,
            created="2026-01-01T00:00:00Z",
            created_unix=0,
            path=(spec.config.cmd or ("sh",))[0],
            args=tuple((spec.config.cmd or ())[1:]),
            image_id="sha256:" + "a" * 64,
            state=ContainerState(status="running" if cid in self.running else "created"),
            config=spec.config,
            host_config=spec.host_config,
            status_text="Created",
        )

    def list(self, *, all: bool, limit: int, size: bool, filters: Any) -> list[ContainerView]:
        self.calls.append(("list", (all, limit, filters)))
        return [self.inspect(cid) for cid in self.created]

    def rename(self, ref: str, new_name: str) -> None:
        self.names[new_name] = self._resolve(ref)

    def update(self, ref: str, update: Any) -> list[str]:
        self._resolve(ref)
        self.calls.append(("update", update))
        return []

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        cid = self._resolve(ref)
        if cid in self.running and not force:
            raise Conflict(f"You cannot remove a running container {cid}")
        del self.created[cid]

    async def changes(self, ref: str) -> list[Any]:
        self._resolve(ref)
        return []

    def export(self, ref: str) -> ByteStream:
        self._resolve(ref)
        return ByteStream(_chunks([b"tar"]))

    async def archive_stat(self, ref: str, path: str) -> PathStat:
        self._resolve(ref)
        if path != "/etc":
            raise NotFound(f"Could not find the file {path} in container {ref}")
        return PathStat(name="etc", size=4096, mode=0o755 | (1 << 31), mtime="2026-01-01T00:00:00Z")

    async def archive_get(self, ref: str, path: str) -> tuple[PathStat, ByteStream]:
        return await self.archive_stat(ref, path), ByteStream(_chunks([b"a", b"b"]))

    async def archive_put(
        self, ref: str, path: str, body: AsyncIterator[bytes], *, no_overwrite_dir_non_dir: bool
    ) -> None:
        self._resolve(ref)
        data = b"".join([c async for c in body])
        self.calls.append(("put", (path, data)))

    def logs(self, ref: str, options: LogOptions) -> ByteStream:
        self._resolve(ref)
        self.calls.append(("logs", options))
        return ByteStream(_chunks([frame(STDOUT, b"line\n")]))

    def attach(self, ref: str, options: AttachOptions) -> EchoSession:
        cid = self._resolve(ref)
        return EchoSession(tty=self.created[cid].config.tty)

    def resize(self, ref: str, *, height: int, width: int) -> None:
        self._resolve(ref)
        self.calls.append(("resize", (height, width)))

    async def top(self, ref: str, ps_args: str) -> TopResult:
        self._resolve(ref)
        return TopResult(titles=("PID", "CMD"), processes=(("1", "sh"),))

    def stats(self, ref: str, *, stream: bool, one_shot: bool = False) -> AsyncIterator[Any]:
        cid = self._resolve(ref)
        self.calls.append(("stats", (stream, one_shot)))

        async def samples() -> AsyncIterator[Any]:
            from wharf.apitypes.stats import CpuSample, StatsSample

            for n in range(3 if stream else 1):
                yield StatsSample(
                    id=cid,
                    name="web",
                    read=f"2026-01-01T00:00:0{n}Z",
                    preread="0001-01-01T00:00:00Z",
                    cpu=CpuSample(total=n),
                    precpu=CpuSample(),
                    pids_current=1,
                )

        return samples()

    async def prune(self, filters: Any) -> PruneReport:
        return PruneReport(deleted=(), space_reclaimed=0)


async def _chunks(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


class FakeExecs:
    def __init__(self, containers: FakeContainers) -> None:
        self.containers = containers
        self.execs: dict[str, ExecConfig] = {}

    def create(self, ref: str, config: ExecConfig) -> str:
        cid = self.containers._resolve(ref)
        if cid not in self.containers.running:
            raise Conflict(f"Container {cid} is not running")
        exec_id = f"e{len(self.execs):063x}"
        self.execs[exec_id] = config
        return exec_id

    def start(self, exec_id: str, *, detach: bool, tty: bool) -> EchoSession | None:
        if exec_id not in self.execs:
            raise NotFound(f"No such exec instance: {exec_id}")
        return None if detach else EchoSession(tty=tty, greeting=b"hello\n")

    def resize(self, exec_id: str, *, height: int, width: int) -> None:
        self.inspect(exec_id)

    def inspect(self, exec_id: str) -> ExecView:
        if exec_id not in self.execs:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ExecView(
            id=exec_id,
            container_id="c",
            config=self.execs[exec_id],
            running=False,
            exit_code=0,
            pid=0,
        )


class FakeImages:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {"busybox:latest": "sha256:" + "b" * 64}
        self.loaded: bytes = b""

    def _view(self, ref: str) -> ImageView:
        key = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
        if key not in self.tags:
            raise NotFound(f"No such image: {ref}")
        return ImageView(
            id=self.tags[key],
            repo_tags=(key,),
            repo_digests=(),
            created="2026-01-01T00:00:00Z",
            created_unix=0,
            size=1,
            config={"Cmd": ["sh"]},
        )

    def list(self, *, all: bool, filters: Any) -> list[ImageView]:
        return [self._view(t) for t in self.tags]

    def inspect(self, ref: str) -> ImageView:
        return self._view(ref)

    def history(self, ref: str) -> list[HistoryEntry]:
        view = self._view(ref)
        return [HistoryEntry(id=view.id, created=0, created_by="import", size=1)]

    def tag(self, ref: str, *, repo: str, tag: str) -> None:
        self.tags[f"{repo}:{tag or 'latest'}"] = self._view(ref).id

    async def remove(self, ref: str, *, force: bool, prune: bool) -> list[ImageDeleteItem]:
        view = self._view(ref)
        del self.tags[view.repo_tags[0]]
        return [ImageDeleteItem(untagged=view.repo_tags[0])]

    def save(self, refs: list[str]) -> ByteStream:
        for ref in refs:
            self._view(ref)
        return ByteStream(_chunks([b"archive"]))

    async def load(self, body: AsyncIterator[bytes]) -> list[str]:
        self.loaded = b"".join([c async for c in body])
        return ["Loaded image: busybox:latest"]

    async def import_image(
        self, body: AsyncIterator[bytes], *, repo: str, tag: str, changes: list[str], message: str
    ) -> str:
        self.loaded = b"".join([c async for c in body])
        return "sha256:" + "c" * 64

    async def pull(self, ref: str, *, tag: str) -> list[str]:
        raise NotFound(f"pull access denied for {ref}, repository does not exist")

    async def commit(self, container: str, **kwargs: Any) -> str:
        return "sha256:" + "d" * 64

    async def prune(self, *, dangling_only: bool, filters: Any) -> PruneReport:
        return PruneReport(deleted=(), space_reclaimed=0, key="ImagesDeleted")


def make_backends() -> Backends:
    containers = FakeContainers()
    return Backends(
        system=FakeSystem(),
        containers=containers,
        execs=FakeExecs(containers),
        images=FakeImages(),
    )
