"""The build backend: :class:`~wharf.build.BuildBackend` over the image store and the
container service.

RUN steps run in real Wharf containers created from the parent image (its snapshot), with
their output streamed from the container's log; the container's diff is committed as a new
layer and the container removed (kept on failure unless ``force_rm``, as dockerd does).
COPY/ADD/WORKDIR prepare a writable layer over the parent, mount it on a private temporary
directory, apply :mod:`wharf.build.copier`, unmount and commit. ADD's URLs are fetched into
the build's scratch directory on every build (their content is part of the cache key), as
dockerd does. The cache index maps step cache keys to image IDs in
``<data-root>/build-cache.json``.

:class:`BuildService` receives the context (size-limited, streamed to disk) and keeps the
last few small contexts extracted after a successful build, keyed by the digest of their
bytes: a no-change rebuild sends the same bytes, so it extracts nothing, hashes no COPY
source again, and, every step being a cache hit, touches only the metadata store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.message
import email.utils
import hashlib
import json
import logging
import os
import posixpath
import secrets
import shutil
import tempfile
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wharf.api.backends import BuildRequest, LogOptions
from wharf.apitypes.containers import ContainerCreate
from wharf.apitypes.stream import Demuxer
from wharf.build import BuildOptions, CopyStep, Download, Emit, RunFailed, RunStep, build
from wharf.build.context import apply_dockerignore, extract_context, read_dockerignore
from wharf.build.copier import CopyOptions, copy_into, resolve_in_root, resolve_sources
from wharf.build.dockerfile import parse
from wharf.daemon import spec as specs
from wharf.daemon.containers import ContainerService
from wharf.errors import InvalidArgument, NotFound, Unavailable, WharfError
from wharf.images import ImageService
from wharf.images.reference import parse_reference
from wharf.mount import mount_all, unmount
from wharf.oci.image import ImageConfig

__all__ = ["DEFAULT_MAX_CONTEXT_SIZE", "BuildService", "DaemonBuildBackend"]

log = logging.getLogger("wharf.build")

_URL_TIMEOUT = 30.0
_LAYER_PREFIX = "build-"


class DaemonBuildBackend:
    """Implements :class:`wharf.build.BuildBackend` for the daemon."""

    def __init__(self, images: ImageService, containers: ContainerService, root: Path) -> None:
        self.images = images
        self.containers = containers
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / "build-cache.json"
        self._lock = threading.Lock()
        try:
            self._index: dict[str, str] = json.loads(self._index_path.read_text())
        except (FileNotFoundError, ValueError):
            self._index = {}
        self._scratch: str | None = None
        self._configs: dict[str, ImageConfig] = {}
        self._fresh = ""
        self._recover()

    def _recover(self) -> None:
        """Undo what a daemon killed mid-build left: mounts, scratch directories, context
        tars and kept contexts under ``root``, and the image store's build layers."""
        for path in sorted(self.root.iterdir()):
            if path.name.startswith("m-"):
                unmount(str(path), detach=True)
                with contextlib.suppress(OSError):
                    path.rmdir()
            elif path.name.startswith(("s-", "b-", "c-")) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith("t-"):  # a context tar being received
                path.unlink()
        for record in self.images.metadata.containers():
            if record.id.startswith(_LAYER_PREFIX):
                self.images.remove_container(record.id)

    # -- images ---------------------------------------------------------------------------

    def _exists(self, image_id: str) -> bool:
        try:
            self.images.metadata.image(image_id)
        except NotFound:
            return False
        return True

    def get_image(self, ref: str) -> tuple[str, ImageConfig]:
        # configs are content-addressed, so one read per image ID is enough
        config = self._configs.get(ref)
        if config is not None and (ref == self._fresh or self._exists(ref)):
            return ref, config
        with contextlib.suppress(InvalidArgument, NotFound):  # a tag: no config to parse
            image_id = self.images.metadata.get_ref(str(parse_reference(ref)))
            config = self._configs.get(image_id)
            if config is not None and self._exists(image_id):
                return image_id, config
        image = self.images.resolve(ref)
        self._configs[str(image.id)] = image.config
        return str(image.id), image.config

    def tag(self, image_id: str, ref: str) -> None:
        self.images.tag(image_id, ref)

    async def commit_config(self, base: str | None, config: ImageConfig) -> str:
        image = await asyncio.to_thread(self.images.build_image, config, base=base)
        return str(image.id)

    async def reuse_layer(
        self, base: str | None, config: ImageConfig, source: str, index: int
    ) -> str:
        image = await asyncio.to_thread(
            self.images.build_image, config, base=base, reuse=(source, index)
        )
        return str(image.id)

    def is_dir(self, image_id: str, path: str) -> bool:
        with self._layer(image_id) as (_, rootfs):
            return resolve_in_root(rootfs, path).is_dir()

    def cache_get(self, key: str) -> str | None:
        image_id = self._index.get(key)
        if image_id is None or not self._exists(image_id):
            return None
        self._fresh = image_id  # get_image of it, next, needs no second look-up
        return image_id

    def cache_put(self, key: str, image_id: str) -> None:
        with self._lock:
            self._index[key] = image_id
            tmp = self._index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._index))
            os.replace(tmp, self._index_path)

    def _base(self, base: str | None) -> str:
        if base is not None:
            return base
        if self._scratch is None:
            empty = ImageConfig(architecture="amd64", os="linux", diff_ids=())
            self._scratch = str(self.images.build_image(empty, base=None).id)
        return self._scratch

    # -- RUN ------------------------------------------------------------------------------

    async def run(self, step: RunStep, emit: Emit) -> str:
        spec = ContainerCreate.from_json(
            {
                "Image": self._base(step.base),
                "Cmd": list(step.argv),
                "Entrypoint": [],
                "Env": list(step.env),
                "User": await asyncio.to_thread(self._numeric_user, step.base, step.user),
                "WorkingDir": step.workdir,
                "AttachStdout": True,
                "AttachStderr": True,
                "Labels": {},
                "Healthcheck": {"Test": ["NONE"]},  # the base image's check is not the step's
                "HostConfig": {"NetworkMode": step.network_mode or "default"},
            }
        )
        cid, _ = self.containers.create(spec, name=None)
        emit(f" ---> Running in {cid[:12]}\n")
        failed = True
        cancelled = False
        try:
            exited = self.containers.wait(cid, condition="next-exit")
            self.containers.start(cid)
            stream = self.containers.logs(cid, LogOptions(stdout=True, stderr=True, follow=True))
            demux = Demuxer()
            async for chunk in stream.chunks:
                for _, payload in demux.feed(chunk):
                    emit(payload.decode(errors="replace"))
            result = await exited
            if result.status_code != 0:
                command = " ".join(step.argv)
                raise RunFailed(
                    f"The command '{command}' returned a non-zero code: {result.status_code}",
                    result.status_code,
                )
            image = await asyncio.to_thread(
                self.images.build_image, step.config, base=step.base, container=cid
            )
            failed = False
        except asyncio.CancelledError:
            cancelled = True  # the client went away: stop the step and leave nothing
            raise
        finally:
            if cancelled or step.force_rm or (step.rm and not failed):
                emit(f"Removing intermediate container {cid[:12]}\n")
                await self.containers.remove(cid, force=True, volumes=True)
        return str(image.id)

    def _numeric_user(self, base: str | None, user: str) -> str:
        """``user`` as ``uid:gid``, names looked up in the image's ``/etc/passwd`` and
        ``/etc/group`` (the container service only takes numbers without a rootfs)."""
        name, _, group = user.partition(":")
        if not user or (name.isdigit() and (not group or group.isdigit())):
            return user
        with self._layer(self._base(base)) as (_, rootfs):
            files = []
            for path in ("/etc/passwd", "/etc/group"):
                try:
                    files.append(resolve_in_root(rootfs, path).read_text(errors="replace"))
                except (FileNotFoundError, NotADirectoryError):
                    files.append("")
        uid, gid = specs.parse_user(user, files[0], files[1])
        return f"{uid}:{gid}"

    # -- COPY / ADD / WORKDIR -----------------------------------------------------------

    async def copy(self, step: CopyStep) -> str:
        return await asyncio.to_thread(self._copy, step)

    async def download(self, url: str, directory: Path) -> Download:
        return await asyncio.to_thread(_fetch, url, directory)

    @contextlib.contextmanager
    def _layer(self, image: str) -> Iterator[tuple[str, Path]]:
        """A new writable layer over ``image``, mounted; yields (layer name, mount point).
        The layer is removed afterwards unless the caller commits it first."""
        cid = _LAYER_PREFIX + secrets.token_hex(16)
        mounts = self.images.prepare_container(cid, image)
        target = Path(tempfile.mkdtemp(prefix="m-", dir=self.root))
        try:
            mount_all(mounts, str(target))
            try:
                yield cid, target
            finally:
                unmount(str(target))
        finally:
            target.rmdir()
            self.images.remove_container(cid)

    def _copy(self, step: CopyStep) -> str:
        scratch = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
        try:
            with self._layer(self._base(step.base)) as (cid, rootfs):
                self._apply(step, rootfs, scratch)
                unmount(str(rootfs))
                image = self.images.build_image(step.config, base=step.base, container=cid)
            return str(image.id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _apply(self, step: CopyStep, rootfs: Path, scratch: Path) -> None:
        uid, gid = _owner(rootfs, step.chown) if step.chown else (0, 0)
        options = CopyOptions(
            uid=uid,
            gid=gid,
            keep_owner=step.source_image is not None and not step.chown,
            chmod=step.chmod,
            extract_archives=step.is_add,
        )
        what = "ADD failed" if step.is_add else "COPY failed"
        if not step.sources and not step.files and not step.downloads:
            copy_into([], rootfs, step.dest, options, what=what)
        for name, content in step.files:
            path = scratch / "heredoc" / name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)
            path.chmod(0o644)
            copy_into([path], rootfs, step.dest, options, what=what)
        fetched = dataclasses.replace(options, extract_archives=False)  # remote tars stay tars
        for download in step.downloads:
            copy_into([download.path], rootfs, step.dest, fetched, what=what)
        local = list(step.sources)
        if not local:
            return
        if step.source_image is None:
            assert step.context is not None
            found = resolve_sources(step.context, local, what=what)
            copy_into(found, rootfs, step.dest, options, what=what)
            return
        with self._layer(step.source_image) as (_, source_root):
            found = resolve_sources(source_root, local, what=what)
            copy_into(found, rootfs, step.dest, options, what=what)


def _lookup(path: Path, name: str, what: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise InvalidArgument(f"--chown: unable to find {what} {name!r} in the image's {path.name}")


def _owner(rootfs: Path, chown: str) -> tuple[int, int]:
    """``--chown=user[:group]`` as numbers; as moby's ``parseChownFlag``, a missing group is
    the user string again (a name is then looked up as a group)."""
    user, _, group = chown.partition(":")
    group = group or user
    if user.isdigit():
        uid = int(user)
    else:
        uid = _lookup(resolve_in_root(rootfs, "/etc/passwd"), user, "user")
    if group.isdigit():
        return uid, int(group)
    return uid, _lookup(resolve_in_root(rootfs, "/etc/group"), group, "group")


def _download_name(url: str, response: httpx.Response) -> str:
    """moby's ``getFilenameForDownload``: the URL path's last element, else the
    Content-Disposition file name, else ``""``."""
    path = urllib.parse.urlparse(url).path
    if path and not path.endswith("/"):
        return posixpath.basename(path)
    disposition = response.headers.get("content-disposition", "")
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        name = message.get_param("filename", header="content-disposition")
        if isinstance(name, str) and name and not name.endswith("/"):
            return posixpath.basename(name)
    return ""


def _fetch(url: str, directory: Path) -> Download:
    """GET ``url`` into a new file in a fresh directory under ``directory``."""
    directory.mkdir(exist_ok=True)
    target_dir = Path(tempfile.mkdtemp(prefix="url-", dir=directory))
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, timeout=_URL_TIMEOUT, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise Unavailable(
                    f"failed to GET {url} with status {response.status_code} "
                    f"{response.reason_phrase}".rstrip()
                )
            name = _download_name(url, response)
            named = name not in ("", ".", "..")
            target = target_dir / (name if named else "download")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
            modified = response.headers.get("last-modified", "")
    except httpx.HTTPError as exc:
        raise Unavailable(f"failed to GET {url}: {exc}") from None
    mtime = 0.0
    with contextlib.suppress(TypeError, ValueError, IndexError):
        mtime = email.utils.parsedate_to_datetime(modified).timestamp()
    os.utime(target, (mtime, mtime))
    return Download(url=url, path=target, digest=digest.hexdigest(), named=named)


DEFAULT_MAX_CONTEXT_SIZE = 4 << 30  # wharf daemon --max-build-context-size
# Contexts up to this size (tar bytes) are kept extracted, the last few, for the next build
# that sends the same bytes: a no-change rebuild neither extracts nor re-hashes anything.
_REUSE_MAX_SIZE = 64 << 20
_REUSE_COUNT = 4


@dataclass
class _Context:
    """An extracted context with ``.dockerignore`` applied: its directory, the Dockerfile's
    text (read before the ignore rules apply, as dockerd does), the COPY checksums computed
    over it so far, and its key among the kept contexts (tar digest, Dockerfile name)."""

    path: Path
    dockerfile: str
    checksums: dict[tuple[str, ...], str] = field(default_factory=dict)
    key: tuple[str, str] | None = None  # None: too large to keep
    users: int = 0


class BuildService:
    """Implements :class:`wharf.api.BuilderBackend`: context in, Docker's build stream out.

    The context tar is streamed to disk (hashed on the way) and refused beyond
    ``max_context_size`` bytes, compressed or extracted. After a successful build a small
    context stays extracted (the last few), keyed by the digest of its bytes and the
    Dockerfile name, so that the next build sending the same bytes neither extracts nor
    re-hashes anything; kept contexts are only read.
    """

    def __init__(
        self, backend: DaemonBuildBackend, *, max_context_size: int = DEFAULT_MAX_CONTEXT_SIZE
    ) -> None:
        self.backend = backend
        self.max_context_size = max_context_size
        self._contexts: OrderedDict[tuple[str, str], _Context] = OrderedDict()

    async def _receive(self, body: AsyncIterator[bytes], tar_path: Path) -> tuple[int, str]:
        """Stream ``body`` to a new file ``tar_path``; its size and sha256."""
        digest = hashlib.sha256()
        size = 0
        fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            async for chunk in body:
                size += len(chunk)
                if size > self.max_context_size:
                    raise InvalidArgument(_too_large(self.max_context_size))
                digest.update(chunk)
                out.write(chunk)
        return size, digest.hexdigest()

    async def _context(
        self, body: AsyncIterator[bytes], request: BuildRequest, workdir: Path
    ) -> _Context:
        """The context of this request: kept from an earlier build of the same bytes (with
        one more user), else extracted into ``workdir`` (created then)."""
        tar_path = workdir.with_name(f"t-{workdir.name}.tar")
        try:
            size, digest = await self._receive(body, tar_path)
        except BaseException:
            tar_path.unlink(missing_ok=True)
            raise
        key = (digest, request.dockerfile)
        entry = self._contexts.get(key)
        if entry is not None and not entry.path.is_dir():  # removed behind our back
            del self._contexts[key]
            entry = None
        if entry is not None:
            tar_path.unlink()
            self._contexts.move_to_end(key)
            entry.users += 1
            return entry
        path = workdir / "ctx"
        try:
            text = await asyncio.to_thread(self._extract, tar_path, path, request)
        finally:
            tar_path.unlink(missing_ok=True)
        return _Context(path, text, key=key if size <= _REUSE_MAX_SIZE else None)

    def _keep(self, entry: _Context) -> None:
        """Keep a context a build succeeded with, for the next build of the same bytes."""
        if entry.key is None or entry.key in self._contexts:
            return
        kept = Path(tempfile.mkdtemp(prefix="c-", dir=self.backend.root))
        os.replace(entry.path, kept)
        self._contexts[entry.key] = _Context(kept, entry.dockerfile, entry.checksums, entry.key)

    async def _release(self, entry: _Context) -> None:
        entry.users = max(0, entry.users - 1)
        idle = [k for k, e in self._contexts.items() if e.users == 0]
        for key in idle[: max(0, len(self._contexts) - _REUSE_COUNT)]:
            old = self._contexts.pop(key)
            await asyncio.to_thread(shutil.rmtree, old.path, True)

    def _extract(self, tar_path: Path, context: Path, request: BuildRequest) -> str:
        context.mkdir(parents=True)
        with open(tar_path, "rb") as stream:
            extract_context(stream, context, max_size=self.max_context_size)
        tar_path.unlink()
        text = _read_dockerfile(context, request.dockerfile)
        parse(text)  # parse errors are plain HTTP errors, before the stream starts
        apply_dockerignore(
            context, read_dockerignore(context), keep=(request.dockerfile, ".dockerignore")
        )
        return text

    async def build(
        self, body: AsyncIterator[bytes], request: BuildRequest
    ) -> AsyncGenerator[dict[str, Any], None]:
        # made only when needed (an extraction, a download): a kept context needs none
        workdir = self.backend.root / f"b-{secrets.token_hex(8)}"
        entry: _Context | None = None
        try:
            entry = await self._context(body, request, workdir)
            options = BuildOptions(
                tags=request.tags,
                build_args=request.build_args,
                labels=request.labels,
                no_cache=request.no_cache,
                target=request.target,
                rm=request.rm,
                force_rm=request.force_rm,
                network_mode=request.network_mode,
                cache_from=request.cache_from,
            )
            queue: asyncio.Queue[str | None] = asyncio.Queue()

            def emit(text: str) -> None:
                if not request.quiet:
                    queue.put_nowait(text)

            async def run(context: _Context) -> str:
                try:
                    return await build(
                        context.dockerfile,
                        context.path,
                        options,
                        self.backend,
                        emit,
                        checksums=context.checksums,
                        scratch=workdir,
                    )
                finally:
                    queue.put_nowait(None)

            task = asyncio.get_running_loop().create_task(run(entry))
            try:
                async for text in _batched(queue):
                    yield {"stream": text}
            finally:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait([task])
            final = _final_messages(task, request)
            if not task.cancelled() and task.exception() is None:
                self._keep(entry)
        finally:
            # clean up before the last messages: the CLI exits as soon as it reads them
            if entry is not None:
                await self._release(entry)
            if workdir.exists():
                await asyncio.to_thread(shutil.rmtree, workdir, True)
        for message in final:
            yield message


async def _batched(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    """The texts of ``queue`` until None; those already waiting are joined into one message
    (a cached step's lines come all at once: one write instead of one per line), except
    that each ``Step N/M`` header stays a message of its own, as clients parse it."""
    carry: str | None = None
    carried = False
    while True:
        text = carry if carried else await queue.get()
        carried = False
        if text is None:
            return
        if not text.startswith("Step "):
            while not queue.empty():
                more = queue.get_nowait()
                if more is None or more.startswith("Step "):
                    carry, carried = more, True
                    break
                text += more
        yield text


def _too_large(limit: int) -> str:
    return (
        f"build context: larger than the daemon's limit of {limit} bytes "
        "(wharf daemon --max-build-context-size); make it smaller with a .dockerignore"
    )


def _final_messages(task: asyncio.Task[str], request: BuildRequest) -> list[dict[str, Any]]:
    exc = task.exception()
    if exc is not None:
        text = str(exc)
        if not isinstance(exc, WharfError):
            log.error("build failed", exc_info=exc)
            text = f"{type(exc).__name__}: {exc}"
        detail: dict[str, Any] = {"message": text}
        if isinstance(exc, RunFailed):
            detail["code"] = exc.code
        return [{"errorDetail": detail, "error": text}]
    image_id = task.result()
    messages: list[dict[str, Any]] = [{"aux": {"ID": image_id}}]
    if request.quiet:
        return [*messages, {"stream": image_id + "\n"}]
    messages.append({"stream": f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"})
    messages += [{"stream": f"Successfully tagged {_familiar(tag)}\n"} for tag in request.tags]
    return messages


def _familiar(tag: str) -> str:
    return tag if ":" in tag.rsplit("/", 1)[-1] else tag + ":latest"


def _read_dockerfile(context: Path, name: str) -> str:
    rel = posixpath.normpath(name.lstrip("/"))
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"dockerfile {name!r}: outside the build context")
    path = resolve_in_root(context, rel)
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidArgument(
            f"Cannot locate specified Dockerfile: {name} (expected it in the build context)"
        ) from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"dockerfile {name!r}: not UTF-8 text") from None
