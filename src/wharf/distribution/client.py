"""The v2 protocol against one repository on one endpoint (httpx, synchronous, thread-safe).

Errors are :mod:`wharf.errors` kinds whose messages name the repository and the registry:
``401`` -> Unauthenticated (Docker's "unauthorized: authentication required"), ``404`` ->
NotFound, a refused connection, a stall or a ``5xx`` -> Unavailable, bytes that do not hash
to their digest -> DigestMismatch (DataLoss).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

import httpx

from wharf.content.local import LocalContentStore
from wharf.distribution.auth import RegistryAuth
from wharf.distribution.hosts import Endpoint
from wharf.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    WharfError,
)
from wharf.oci import Digest, mediatypes
from wharf.oci.digest import DigestMismatch

__all__ = ["MANIFEST_ACCEPT", "Repository"]

MANIFEST_ACCEPT: Final = ", ".join(
    [
        mediatypes.OCI_INDEX,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST,
    ]
)
MAX_MANIFEST: Final = 4 << 20
_CHUNK: Final = 1 << 20
_DEFAULT_UPLOAD_CHUNK: Final = 16 << 20
_RETRIES: Final = 5

OnBytes = Callable[[int], None]


class Repository:
    """One repository (``library/busybox``) on one endpoint.

    Args:
        endpoint: where the registry is.
        name: the repository path.
        auth: the registry's auth (shared by every request of one pull or push).
        timeout: seconds a connect or a read may stall before it is an error.
        transport: an httpx transport (tests); default: real sockets.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        name: str,
        auth: RegistryAuth,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self._client = httpx.Client(
            base_url=endpoint.url,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"User-Agent": "wharf"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.endpoint.host}/{self.name}"

    @contextlib.contextmanager
    def _transport_errors(self, method: str, url: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise Unavailable(
                f'{method} "{url}": registry {self.endpoint.host} timed out ({type(exc).__name__})'
            ) from None
        except httpx.TransportError as exc:
            raise Unavailable(f'{method} "{url}": {exc or type(exc).__name__}') from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else self.endpoint.url + path
        with self._transport_errors(method, url):
            return self._client.request(method, path, **kwargs)

    def _fail(self, response: httpx.Response, what: str) -> WharfError:
        status = response.status_code
        detail = _error_detail(response)
        if status == 401:
            return Unauthenticated(f"{what}: unauthorized: authentication required{detail}")
        if status == 403:
            return PermissionDenied(f"{what}: denied: requested access is forbidden{detail}")
        if status == 404:
            return NotFound(f"{what}: not found{detail}")
        if status in (400, 405, 413, 415):
            return InvalidArgument(f"{what}: registry refused it with {status}{detail}")
        return Unavailable(f"{what}: registry answered {status}{detail}")

    def url(self, path: str) -> str:
        return f"{self.endpoint.url}/v2/{self.name}/{path}"

    # -- reading ----------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/`` with the auth flow.

        Raises:
            Unauthenticated: the credentials were refused.
            Unavailable: the registry cannot be reached.
        """
        response = self._request("GET", "/v2/")
        if response.status_code != 200:
            raise self._fail(response, f"login to {self.endpoint.url}/v2/")

    def get_manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """Fetch a manifest or index by tag or digest.

        Returns:
            (bytes, media type, digest of the bytes).

        Raises:
            NotFound: "manifest unknown".
            DigestMismatch: fetched by digest and the bytes hash to another.
        """
        what = f"manifest for {self._where()}:{reference}"
        response = self._request(
            "GET", f"/v2/{self.name}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        if response.status_code == 404:
            raise NotFound(f"{what} not found: manifest unknown")
        if response.status_code != 200:
            raise self._fail(response, what)
        data = response.content
        if len(data) > MAX_MANIFEST:
            raise InvalidArgument(f"{what}: {len(data)} bytes is over {MAX_MANIFEST}")
        digest = Digest.from_bytes(data)
        if reference.startswith("sha256:") and str(digest) != reference:
            raise DigestMismatch(f"{what}: the bytes hash to {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return data, media_type, digest

    def read_blob(self, digest: Digest, limit: int = MAX_MANIFEST) -> bytes:
        """A small blob (a config) in memory, verified.

        Raises:
            DigestMismatch: the bytes do not hash to ``digest``.
            InvalidArgument: the blob is over ``limit`` bytes.
        """
        what = f"blob {digest} from {self._where()}"
        response = self._request("GET", f"/v2/{self.name}/blobs/{digest}")
        if response.status_code != 200:
            raise self._fail(response, what)
        if len(response.content) > limit:
            raise InvalidArgument(f"{what}: over {limit} bytes")
        if Digest.from_bytes(response.content, digest.algorithm) != digest:
            raise DigestMismatch(f"{what}: the bytes hash to another digest")
        return response.content

    def blob_exists(self, digest: Digest) -> bool:
        """``HEAD`` a blob."""
        response = self._request("HEAD", f"/v2/{self.name}/blobs/{digest}")
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._fail(response, f"blob {digest} in {self._where()}")

    def fetch_blob(
        self, store: LocalContentStore, digest: Digest, size: int, on_bytes: OnBytes
    ) -> None:
        """Download a blob into the content store, verified; resumes with ``Range``.

        A dropped connection or a stall is retried from the bytes already written (a
        registry that ignores ``Range`` restarts the ingest).

        Raises:
            DigestMismatch: the bytes do not hash to ``digest`` (nothing is stored).
            Unavailable: the registry failed ``_RETRIES`` times in a row.
        """
        path = f"/v2/{self.name}/blobs/{digest}"
        what = f"blob {digest} from {self._where()}"
        writer = store.writer(digest.algorithm)
        try:
            failures = 0
            while True:
                headers = {"Range": f"bytes={writer.size}-"} if writer.size else {}
                try:
                    with self._client.stream("GET", path, headers=headers) as response:
                        if response.status_code == 200 and writer.size:
                            on_bytes(-writer.size)
                            writer.abort()
                            writer = store.writer(digest.algorithm)
                        elif response.status_code not in (200, 206):
                            response.read()
                            raise self._fail(response, what)
                        for chunk in response.iter_bytes():
                            if writer.size + len(chunk) > size:
                                raise DigestMismatch(f"{what}: more than its {size} bytes")
                            writer.write(chunk)
                            on_bytes(len(chunk))
                    if writer.size >= size:
                        break
                    failures += 1
                    error = f"connection closed after {writer.size} of {size} bytes"
                except httpx.TransportError as exc:
                    failures += 1
                    error = f"{type(exc).__name__}: {exc}"
                if failures >= _RETRIES:
                    raise Unavailable(f"{what}: {error} ({failures} attempts)")
            try:
                writer.commit(digest, size)
            except AlreadyExists:
                pass
            except DigestMismatch as exc:
                raise DigestMismatch(f"{what}: {exc}") from None
        finally:
            writer.abort()

    # -- writing ----------------------------------------------------------------------

    def mount_blob(self, digest: Digest, source: str) -> bool:
        """Try a cross-repository mount from ``source``; True if the registry did it."""
        response = self._request(
            "POST",
            f"/v2/{self.name}/blobs/uploads/",
            params={"mount": str(digest), "from": source},
        )
        if response.status_code == 201:
            return True
        if response.status_code == 202:
            location = response.headers.get("Location")
            if location:
                with contextlib.suppress(WharfError):
                    self._request("DELETE", location)
            return False
        raise self._fail(response, f"mount of blob {digest} into {self._where()}")

    def upload_blob(self, digest: Digest, size: int, blob: IO[bytes], on_bytes: OnBytes) -> None:
        """``POST`` an upload, stream the bytes with ``PATCH`` (in chunks when the registry
        sets ``OCI-Chunk-Min-Length``), close it with ``PUT ?digest=``."""
        what = f"upload of blob {digest} to {self._where()}"
        response = self._request("POST", f"/v2/{self.name}/blobs/uploads/")
        if response.status_code != 202:
            raise self._fail(response, what)
        location = self._location(response, what)
        min_chunk = response.headers.get("OCI-Chunk-Min-Length")
        if min_chunk is not None and min_chunk.isdigit():
            chunk_size = max(int(min_chunk), _DEFAULT_UPLOAD_CHUNK)
            offset = 0
            while offset < size:
                data = blob.read(min(chunk_size, size - offset))
                if not data:
                    raise DigestMismatch(f"{what}: local blob ended at {offset} of {size} bytes")
                response = self._request(
                    "PATCH",
                    location,
                    content=data,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(data) - 1}",
                    },
                )
                if response.status_code != 202:
                    raise self._fail(response, what)
                location = self._location(response, what)
                offset += len(data)
                on_bytes(len(data))
        else:

            def body() -> Iterator[bytes]:
                while chunk := blob.read(_CHUNK):
                    on_bytes(len(chunk))
                    yield chunk

            response = self._request(
                "PATCH",
                location,
                content=body(),
                headers={"Content-Type": "application/octet-stream"},
            )
            if response.status_code != 202:
                raise self._fail(response, what)
            location = self._location(response, what)
        put_url = httpx.URL(location).copy_add_param("digest", str(digest))
        response = self._request("PUT", str(put_url), headers={"Content-Length": "0"})
        if response.status_code != 201:
            raise self._fail(response, what)

    def _location(self, response: httpx.Response, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise Unavailable(f"{what}: the registry sent no upload Location")
        return str(httpx.URL(self.endpoint.url + "/").join(location))

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        """``PUT`` a manifest under a tag or its digest."""
        response = self._request(
            "PUT",
            f"/v2/{self.name}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise self._fail(response, f"manifest {self._where()}:{reference}")

    def search(self, term: str, limit: int) -> dict[str, Any]:
        """``GET /v1/search`` (Docker's search API, served by Wharf's registry)."""
        response = self._request("GET", "/v1/search", params={"q": term, "n": str(limit)})
        if response.status_code != 200:
            raise self._fail(response, f"search of {self.endpoint.host} for {term!r}")
        body = response.json()
        if not isinstance(body, dict):
            raise Unavailable(f"search of {self.endpoint.host}: the answer is not an object")
        return body


def _error_detail(response: httpx.Response) -> str:
    """``: <message>`` from a registry's ``{"errors":[…]}`` body, or empty."""
    try:
        response.read()
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return f" ({errors[0].get('message') or errors[0].get('code')})"
    except (ValueError, httpx.HTTPError):
        pass
    return ""
