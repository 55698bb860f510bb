"""Pull: resolve a manifest, download what is missing, hand the image to the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import httpx

from wharf.content.local import LocalContentStore
from wharf.distribution.auth import Credentials, RegistryAuth
from wharf.distribution.client import Repository
from wharf.distribution.hosts import RegistryHosts
from wharf.distribution.progress import Message, Progress, Reporter
from wharf.errors import InvalidArgument, NotFound, Unauthenticated, Unavailable, WharfError
from wharf.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatypes

__all__ = ["ImageSink", "PullTarget", "pull"]

DEFAULT_CONCURRENCY = 3


class ImageSink(Protocol):
    """What a pull needs from the image store (``wharf.images.ImageService`` fits)."""

    @property
    def content(self) -> LocalContentStore: ...

    def lease(self) -> AbstractContextManager[Callable[[Digest], None]]: ...

    def has_layers(self, diff_ids: Sequence[Digest]) -> int:
        """How many of the bottom layers of this stack are unpacked already."""
        ...

    def tagged_manifest(self, reference: str) -> Digest | None:
        """The manifest digest ``reference`` points at now, or None."""
        ...

    def unpack_layer(self, blob: Digest, diff_ids: Sequence[Digest]) -> None:
        """Extract the layer at the top of ``diff_ids`` (those below are unpacked)."""
        ...

    def register_pulled(self, manifest: bytes, references: Sequence[str]) -> None:
        """Unpack and record the image, then point ``references`` at it."""
        ...


@dataclass(frozen=True)
class PullTarget:
    """What to pull.

    Attributes:
        domain: registry domain of the reference (``docker.io``, ``127.0.0.1:5000``).
        path: repository path (``library/busybox``).
        reference: a tag or a ``sha256:`` digest.
        name: the full reference the image is recorded under (``domain/path:tag``).
        display: the reference as users see it in messages.
    """

    domain: str
    path: str
    reference: str
    name: str
    display: str


def _resolve(repo: Repository, reference: str) -> tuple[bytes, Digest, Manifest]:
    data, media_type, digest = repo.get_manifest(reference)
    where = f"manifest {repo.endpoint.host}/{repo.name}:{reference}"
    if media_type in mediatypes.INDEXES or (
        media_type not in mediatypes.MANIFESTS and b'"manifests"' in data
    ):
        chosen = Index.from_bytes(data, where).select()
        data, _, digest = repo.get_manifest(str(chosen.digest))
    return data, digest, Manifest.from_bytes(data, where)


def _connect(
    target: PullTarget,
    hosts: RegistryHosts,
    credentials: Credentials,
    timeout: float,
    transport: httpx.BaseTransport | None,
) -> tuple[Repository, bytes, Digest, Manifest]:
    """The first endpoint that serves the manifest: mirrors, then the origin."""
    errors: list[str] = []
    try:
        endpoints = hosts.pull_endpoints(target.domain)
    except NotFound as exc:
        raise NotFound(
            f"pull access denied for {target.display}, repository does not exist or may "
            f"require 'docker login': {exc}"
        ) from None
    for i, endpoint in enumerate(endpoints):
        auth = RegistryAuth(credentials, (f"repository:{target.path}:pull",))
        repo = Repository(endpoint, target.path, auth, timeout=timeout, transport=transport)
        try:
            return (repo, *_resolve(repo, target.reference))
        except WharfError as exc:
            repo.close()
            if i == len(endpoints) - 1:
                if errors:
                    raise type(exc)(f"{exc} (mirrors: {'; '.join(errors)})") from None
                raise
            errors.append(str(exc))
    raise Unavailable(f"{target.display}: no endpoint")  # pragma: no cover - never empty


def pull(
    target: PullTarget,
    sink: ImageSink,
    hosts: RegistryHosts,
    credentials: Credentials,
    report: Reporter,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> Digest:
    """Pull ``target`` into ``sink``, reporting Docker's progress messages.

    Nothing is tagged unless every blob arrived verified and the image was unpacked.

    Returns:
        The manifest digest.

    Raises:
        NotFound: the repository or the manifest does not exist, or the registry wants
            (other) credentials ("pull access denied …").
        Unavailable: the registry cannot be reached, stalls or drops every retry.
        DataLoss: a blob does not match its digest.
    """
    try:
        repo, data, digest, manifest = _connect(target, hosts, credentials, timeout, transport)
    except Unauthenticated as exc:
        # NotFound, as dockerd: a 401 would make the docker CLI prompt for a login.
        raise NotFound(
            f"pull access denied for {target.display}, repository does not exist or may "
            f"require 'docker login': {exc}"
        ) from None
    report(Message(f"Pulling from {target.path}", target.reference[:19]))
    with repo:
        if sink.tagged_manifest(target.name) == digest:
            report(Message(f"Digest: {digest}"))
            report(Message(f"Status: Image is up to date for {target.display}"))
            return digest
        with sink.lease() as protect:
            protect(manifest.config.digest)
            for layer in manifest.layers:
                protect(layer.digest)
            store = sink.content
            if not store.exists(manifest.config.digest):
                repo.fetch_blob(store, manifest.config.digest, manifest.config.size, _ignore)
            config = ImageConfig.from_bytes(
                store.read_bytes(manifest.config.digest), f"config of {target.display}"
            )
            if len(config.diff_ids) != len(manifest.layers):
                raise InvalidArgument(
                    f"{target.display}: manifest has {len(manifest.layers)} layers, config "
                    f"lists {len(config.diff_ids)}"
                )
            present = sink.has_layers(config.diff_ids)
            _fetch_and_extract(
                repo,
                sink,
                layers=manifest.layers,
                diff_ids=config.diff_ids,
                present=present,
                report=report,
                concurrency=concurrency,
            )
            sink.register_pulled(data, [target.name])
    report(Message(f"Digest: {digest}"))
    report(Message(f"Status: Downloaded newer image for {target.display}"))
    return digest


def _ignore(_: int) -> None:
    return None


def _fetch_and_extract(
    repo: Repository,
    sink: ImageSink,
    *,
    layers: Sequence[Descriptor],
    diff_ids: Sequence[Digest],
    present: int,
    report: Reporter,
    concurrency: int,
) -> None:
    """Download the layers above the first ``present`` ones, ``concurrency`` at a time,
    and extract each, in order, as soon as it and those below it are in."""
    store = sink.content
    for layer in layers[:present]:
        report(Message("Already exists", layer.digest.short()))
    lock = threading.Lock()
    cancel = threading.Event()

    def fetch(layer: Descriptor) -> None:
        short = layer.digest.short()
        done = 0
        last = 0

        def on_bytes(n: int) -> None:
            nonlocal done, last
            if cancel.is_set():
                raise Unavailable(f"blob {layer.digest}: pull cancelled")
            done += n
            if done - last >= 512 << 10 or done == layer.size:
                last = done
                with lock:
                    report(Progress("Downloading", short, done, layer.size))

        repo.fetch_blob(store, layer.digest, layer.size, on_bytes)
        with lock:
            report(Message("Verifying Checksum", short))
            report(Message("Download complete", short))

    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="pull") as pool:
        futures: dict[Digest, Future[None]] = {}
        for layer in layers[present:]:
            if layer.digest in futures:
                continue
            report(Message("Pulling fs layer", layer.digest.short()))
            if store.exists(layer.digest):
                futures[layer.digest] = _done()
                report(Message("Download complete", layer.digest.short()))
            else:
                futures[layer.digest] = pool.submit(fetch, layer)
        try:
            for i in range(present, len(layers)):
                layer = layers[i]
                futures[layer.digest].result()
                with lock:
                    report(Message("Extracting", layer.digest.short()))
                sink.unpack_layer(layer.digest, diff_ids[: i + 1])
                with lock:
                    report(Message("Pull complete", layer.digest.short()))
        except BaseException:
            cancel.set()
            for future in futures.values():
                future.cancel()
            raise


def _done() -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future
