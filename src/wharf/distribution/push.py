"""Push: blobs the registry lacks (mounted from a sibling repository when possible), then
the manifest exactly as stored, so its digest is the one the image came with."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import httpx

from wharf.content.local import LocalContentStore
from wharf.distribution.auth import Credentials, RegistryAuth
from wharf.distribution.client import Repository
from wharf.distribution.hosts import RegistryHosts
from wharf.distribution.progress import Message, Progress, PushResult, Reporter
from wharf.errors import WharfError
from wharf.oci import Descriptor, Digest, Manifest

__all__ = ["DEFAULT_PUSH_CONCURRENCY", "ImageSource", "push"]

DEFAULT_PUSH_CONCURRENCY = 5


class ImageSource(Protocol):
    """What a push needs from the image store."""

    @property
    def content(self) -> LocalContentStore: ...


def push(
    *,
    domain: str,
    path: str,
    tag: str,
    display: str,
    manifest: bytes,
    media_type: str,
    mount_from: Sequence[str],
    source: ImageSource,
    hosts: RegistryHosts,
    credentials: Credentials,
    report: Reporter,
    concurrency: int = DEFAULT_PUSH_CONCURRENCY,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> PushResult:
    """Push one image (its stored ``manifest``) to ``domain/path:tag``.

    Args:
        mount_from: other repositories on the same registry known to hold the blobs.

    Raises:
        Unauthenticated, PermissionDenied: the registry refused the credentials.
        Unavailable: the registry cannot be reached or failed.
    """
    report(Message(f"The push refers to repository [{display}]"))
    parsed = Manifest.from_bytes(manifest, f"manifest of {display}")
    scopes = [f"repository:{path}:pull,push"] + [f"repository:{m}:pull" for m in mount_from]
    auth = RegistryAuth(credentials, tuple(scopes))
    with Repository(hosts.origin(domain), path, auth, timeout=timeout, transport=transport) as repo:
        layers = list(reversed(parsed.layers))
        for layer in layers:
            report(Message("Preparing", layer.digest.short()))
        lock = threading.Lock()

        def send(blob: Descriptor, show: bool) -> None:
            short = blob.digest.short()
            if repo.blob_exists(blob.digest):
                if show:
                    with lock:
                        report(Message("Layer already exists", short))
                return
            for other in mount_from:
                try:
                    if repo.mount_blob(blob.digest, other):
                        if show:
                            with lock:
                                report(Message(f"Mounted from {other}", short))
                        return
                except WharfError:
                    break
            done = 0

            def on_bytes(n: int) -> None:
                nonlocal done
                done += n
                if show:
                    with lock:
                        report(Progress("Pushing", short, done, blob.size))

            with source.content.open(blob.digest) as stream:
                repo.upload_blob(blob.digest, blob.size, stream, on_bytes)
            if show:
                with lock:
                    report(Message("Pushed", short))

        with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="push") as pool:
            futures = [pool.submit(send, layer, True) for layer in _unique(layers)]
            futures.append(pool.submit(send, parsed.config, False))
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        repo.put_manifest(tag, manifest, media_type)
    digest = Digest.from_bytes(manifest)
    report(Message(f"{tag}: digest: {digest} size: {len(manifest)}"))
    result = PushResult(tag, str(digest), len(manifest))
    report(result)
    return result


def _unique(layers: Sequence[Descriptor]) -> list[Descriptor]:
    seen: set[Digest] = set()
    out = []
    for layer in layers:
        if layer.digest not in seen:
            seen.add(layer.digest)
            out.append(layer)
    return out
