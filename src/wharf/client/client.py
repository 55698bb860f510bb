"""``Client``: one method per API verb; results are JSON objects or small typed values."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlencode

import httpx

from wharf.apitypes import API_VERSION
from wharf.client._errors import error_for
from wharf.errors import NotModified, Unavailable, WharfError

__all__ = ["DEFAULT_HOST", "Client", "PendingWait", "RawStream", "resolve_host"]

DEFAULT_HOST: Final = "unix:///run/wharf/wharf.sock"
_PREFIX: Final = f"/v{API_VERSION}"
JSONObj = dict[str, Any]


def resolve_host(host: str | None = None) -> str:
    """The daemon address: ``host``, else ``WHARF_HOST``, else ``DOCKER_HOST``, else default."""
    return host or os.environ.get("WHARF_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise Unavailable(f"host {host!r}: only unix:// daemon addresses are supported")


def _query(params: Mapping[str, Any]) -> str:
    clean = {}
    for key, value in params.items():
        if value is None:
            continue
        clean[key] = ("1" if value else "0") if isinstance(value, bool) else value
    return ("?" + urlencode(clean, doseq=True)) if clean else ""


class RawStream:
    """A hijacked connection: raw bytes both ways after ``101 UPGRADED``."""

    def __init__(self, sock: socket.socket, initial: bytes) -> None:
        self.sock = sock
        self._initial = initial

    def take_buffered(self) -> bytes:
        """Bytes that arrived with the 101 response (read them before polling the socket)."""
        data, self._initial = self._initial, b""
        return data

    def recv(self, size: int = 65536) -> bytes:
        """Next bytes from the daemon (``b""`` at the end)."""
        if self._initial:
            return self.take_buffered()
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: no more stdin."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class Client:
    """The Engine API over a unix socket."""

    def __init__(self, host: str | None = None, *, timeout: float | None = None) -> None:
        self.host = resolve_host(host)
        self.path = _socket_path(self.host)
        # A unix socket: no TLS, so no CA bundle to load (100+ ms per client), no proxies.
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=self.path, verify=False),
            base_url="http://wharf" + _PREFIX,
            timeout=httpx.Timeout(timeout),
            verify=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ---------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> Unavailable:
        return Unavailable(
            f"Cannot connect to the Wharf daemon at {self.host}. Is the daemon running? ({exc})"
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request; raises the error kind for a status >= 400, NotModified for 304."""
        try:
            response = self._http.request(
                method,
                path + _query(params or {}),
                json=body,
                content=content,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 304:
            raise NotModified(f"{method} {path}: nothing to do")
        if response.status_code >= 400:
            raise error_for(response.status_code, response.content)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose answer is JSON."""
        return self.request(method, path, **kwargs).json()

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[bytes]:
        """A streamed response body, chunk by chunk."""
        try:
            with self._http.stream(
                method, path + _query(params or {}), content=content, headers=headers
            ) as resp:
                if resp.status_code >= 400:
                    raise error_for(resp.status_code, resp.read())
                yield from resp.iter_bytes()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def json_lines(self, method: str, path: str, **kwargs: Any) -> Iterator[JSONObj]:
        """A stream of JSON messages (events, load, import, pull)."""
        buffer = b""
        for chunk in self.stream(method, path, **kwargs):
            buffer += chunk
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                if line.strip():
                    yield json.loads(line)
        if buffer.strip():
            yield json.loads(buffer)

    def _raw_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        upgrade: bool = False,
    ) -> tuple[socket.socket, int, bytes, bytes]:
        """Send a request on a raw socket; returns (socket, status, head, bytes after head)."""
        payload = b"" if body is None else json.dumps(body).encode()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise self._unreachable(exc) from exc
        upgrade_headers = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else ""
        head = (
            f"{method} {_PREFIX}{path}{_query(params or {})} HTTP/1.1\r\nHost: wharf\r\n"
            f"{upgrade_headers}Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        sock.sendall(head + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise WharfError(f"{method} {path}: the daemon closed the connection")
            data += chunk
        status_head, _, rest = data.partition(b"\r\n\r\n")
        return sock, int(status_head.split()[1]), status_head, rest

    def hijack(
        self, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> RawStream:
        """POST with ``Upgrade: tcp`` and take the raw connection after ``101``."""
        sock, status, head, rest = self._raw_request(
            "POST", path, params=params, body=body, upgrade=True
        )
        if status != 101:
            body_bytes = _read_body(sock, head, rest)
            sock.close()
            raise error_for(status, body_bytes)
        return RawStream(sock, rest)

    # ---- system -----------------------------------------------------------------------

    def ping(self) -> bool:
        return self.request("GET", "/_ping").text == "OK"

    def version(self) -> JSONObj:
        result: JSONObj = self.json("GET", "/version")
        return result

    def info(self) -> JSONObj:
        result: JSONObj = self.json("GET", "/info")
        return result

    def disk_usage(self) -> JSONObj:
        result: JSONObj = self.json("GET", "/system/df")
        return result

    def events(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        filters: Mapping[str, list[str]] | None = None,
    ) -> Iterator[JSONObj]:
        params = {
            "since": since,
            "until": until,
            "filters": json.dumps(filters) if filters else None,
        }
        return self.json_lines("GET", "/events", params=params)

    # ---- containers ---------------------------------------------------------------------

    def create_container(self, config: JSONObj, *, name: str | None = None) -> str:
        result = self.json("POST", "/containers/create", params={"name": name}, body=config)
        return str(result["Id"])

    def start(self, ref: str) -> None:
        self.request("POST", f"/containers/{ref}/start")

    def stop(self, ref: str, *, timeout: int | None = None) -> None:
        self.request("POST", f"/containers/{ref}/stop", params={"t": timeout})

    def restart(self, ref: str, *, timeout: int | None = None) -> None:
        self.request("POST", f"/containers/{ref}/restart", params={"t": timeout})

    def kill(self, ref: str, *, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/kill", params={"signal": signal})

    def pause(self, ref: str) -> None:
        self.request("POST", f"/containers/{ref}/pause")

    def unpause(self, ref: str) -> None:
        self.request("POST", f"/containers/{ref}/unpause")

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        self.request("DELETE", f"/containers/{ref}", params={"force": force, "v": volumes})

    def wait(self, ref: str, *, condition: str | None = None) -> int:
        """Block until the condition; returns the exit status."""
        result = self.json("POST", f"/containers/{ref}/wait", params={"condition": condition})
        if result.get("Error"):
            raise WharfError(f"wait {ref}: {result['Error'].get('Message')}")
        return int(result["StatusCode"])

    def wait_begin(self, ref: str, *, condition: str | None = None) -> PendingWait:
        """Register a wait now (the daemon has it once this returns); read it later.

        ``docker run`` needs this order: wait registered, then start, so a fast exit (or an
        auto-remove) cannot slip between the two.
        """
        sock, status, head, rest = self._raw_request(
            "POST", f"/containers/{ref}/wait", params={"condition": condition}
        )
        if status != 200:
            body = _read_body(sock, head, rest)
            sock.close()
            raise error_for(status, body)
        return PendingWait(sock, head, rest)

    def inspect(self, ref: str) -> JSONObj:
        result: JSONObj = self.json("GET", f"/containers/{ref}/json")
        return result

    def containers(
        self,
        *,
        all: bool = False,
        filters: Mapping[str, list[str]] | None = None,
        limit: int | None = None,
    ) -> list[JSONObj]:
        params = {
            "all": all or None,
            "limit": limit,
            "filters": json.dumps(filters) if filters else None,
        }
        result: list[JSONObj] = self.json("GET", "/containers/json", params=params)
        return result

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: str | None = None,
        since: str | None = None,
        until: str | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        params = {
            "stdout": True,
            "stderr": True,
            "follow": follow or None,
            "tail": tail,
            "since": since,
            "until": until,
            "timestamps": timestamps or None,
        }
        return self.stream("GET", f"/containers/{ref}/logs", params=params)

    def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool = True,
        stderr: bool = True,
        detach_keys: str | None = None,
    ) -> RawStream:
        return self.hijack(
            f"/containers/{ref}/attach",
            params={
                "stream": True,
                "stdin": stdin or None,
                "stdout": stdout or None,
                "stderr": stderr or None,
                "detachKeys": detach_keys,
            },
        )

    def resize(self, ref: str, *, height: int, width: int) -> None:
        self.request("POST", f"/containers/{ref}/resize", params={"h": height, "w": width})

    def top(self, ref: str) -> JSONObj:
        result: JSONObj = self.json("GET", f"/containers/{ref}/top")
        return result

    def rename(self, ref: str, name: str) -> None:
        self.request("POST", f"/containers/{ref}/rename", params={"name": name})

    def update(self, ref: str, resources: JSONObj) -> None:
        self.request("POST", f"/containers/{ref}/update", body=resources)

    def changes(self, ref: str) -> list[JSONObj]:
        result: list[JSONObj] | None = self.json("GET", f"/containers/{ref}/changes")
        return result or []

    def export(self, ref: str) -> Iterator[bytes]:
        return self.stream("GET", f"/containers/{ref}/export")

    def archive_get(self, ref: str, path: str) -> Iterator[bytes]:
        return self.stream("GET", f"/containers/{ref}/archive", params={"path": path})

    def archive_stat(self, ref: str, path: str) -> JSONObj:
        import base64

        response = self.request("HEAD", f"/containers/{ref}/archive", params={"path": path})
        stat: JSONObj = json.loads(
            base64.b64decode(response.headers["X-Docker-Container-Path-Stat"])
        )
        return stat

    def archive_put(self, ref: str, path: str, tar: Iterator[bytes]) -> None:
        self.request("PUT", f"/containers/{ref}/archive", params={"path": path}, content=tar)

    # ---- exec -------------------------------------------------------------------------

    def exec_create(self, ref: str, config: JSONObj) -> str:
        return str(self.json("POST", f"/containers/{ref}/exec", body=config)["Id"])

    def exec_start(self, exec_id: str, *, tty: bool, detach: bool = False) -> RawStream | None:
        body = {"Detach": detach, "Tty": tty}
        if detach:
            self.request("POST", f"/exec/{exec_id}/start", body=body)
            return None
        return self.hijack(f"/exec/{exec_id}/start", body=body)

    def exec_resize(self, exec_id: str, *, height: int, width: int) -> None:
        self.request("POST", f"/exec/{exec_id}/resize", params={"h": height, "w": width})

    def exec_inspect(self, exec_id: str) -> JSONObj:
        result: JSONObj = self.json("GET", f"/exec/{exec_id}/json")
        return result

    # ---- images -------------------------------------------------------------------------

    def images(
        self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None
    ) -> list[JSONObj]:
        params = {"all": all or None, "filters": json.dumps(filters) if filters else None}
        result: list[JSONObj] = self.json("GET", "/images/json", params=params)
        return result

    def image_inspect(self, ref: str) -> JSONObj:
        result: JSONObj = self.json("GET", f"/images/{ref}/json")
        return result

    def history(self, ref: str) -> list[JSONObj]:
        result: list[JSONObj] = self.json("GET", f"/images/{ref}/history")
        return result

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.request("POST", f"/images/{ref}/tag", params={"repo": repo, "tag": tag})

    def remove_image(self, ref: str, *, force: bool = False) -> list[JSONObj]:
        result: list[JSONObj] = self.json(
            "DELETE", f"/images/{ref}", params={"force": force or None}
        )
        return result

    def save(self, refs: list[str]) -> Iterator[bytes]:
        return self.stream("GET", "/images/get", params={"names": refs})

    def load(self, tar: Iterator[bytes]) -> Iterator[JSONObj]:
        return self.json_lines("POST", "/images/load", params={"quiet": True}, content=tar)

    def import_image(
        self,
        tar: Iterator[bytes],
        *,
        repo: str | None,
        tag: str | None,
        changes: list[str],
        message: str | None,
    ) -> Iterator[JSONObj]:
        params = {
            "fromSrc": "-",
            "repo": repo,
            "tag": tag,
            "changes": changes or None,
            "message": message,
        }
        return self.json_lines("POST", "/images/create", params=params, content=tar)

    def pull(self, ref: str, tag: str | None, *, auth: str = "") -> Iterator[JSONObj]:
        """Docker's pull messages; ``auth`` is the ``X-Registry-Auth`` header."""
        return self.json_lines(
            "POST",
            "/images/create",
            params={"fromImage": ref, "tag": tag},
            headers={"X-Registry-Auth": auth} if auth else None,
        )

    def push(self, name: str, tag: str | None, *, auth: str = "") -> Iterator[JSONObj]:
        """Docker's push messages (the last carries ``aux``)."""
        return self.json_lines(
            "POST",
            f"/images/{name}/push",
            params={"tag": tag},
            headers={"X-Registry-Auth": auth or "e30="},
        )

    def login(self, username: str, password: str, server: str) -> JSONObj:
        body = {"username": username, "password": password, "serveraddress": server}
        result: JSONObj = self.json("POST", "/auth", body=body)
        return result

    def search(self, term: str, *, limit: int = 25, auth: str = "") -> list[JSONObj]:
        result: list[JSONObj] = self.json(
            "GET",
            "/images/search",
            params={"term": term, "limit": limit},
            headers={"X-Registry-Auth": auth} if auth else None,
        )
        return result

    # ---- networks and volumes -------------------------------------------------------------

    def network_create(self, body: JSONObj) -> str:
        return str(self.json("POST", "/networks/create", body=body)["Id"])

    def networks(self, *, filters: dict[str, list[str]] | None = None) -> list[JSONObj]:
        params = {"filters": json.dumps(filters) if filters else None}
        return list(self.json("GET", "/networks", params=params))

    def network_inspect(self, ref: str) -> JSONObj:
        return dict(self.json("GET", f"/networks/{ref}"))

    def network_remove(self, ref: str) -> None:
        self.request("DELETE", f"/networks/{ref}")

    def network_connect(self, ref: str, container: str, *, aliases: list[str]) -> None:
        body = {"Container": container, "EndpointConfig": {"Aliases": aliases or None}}
        self.request("POST", f"/networks/{ref}/connect", body=body)

    def network_disconnect(self, ref: str, container: str, *, force: bool = False) -> None:
        body = {"Container": container, "Force": force}
        self.request("POST", f"/networks/{ref}/disconnect", body=body)

    def network_prune(self) -> JSONObj:
        return dict(self.json("POST", "/networks/prune"))

    def volume_create(self, body: JSONObj) -> JSONObj:
        return dict(self.json("POST", "/volumes/create", body=body))

    def volumes(self, *, filters: dict[str, list[str]] | None = None) -> list[JSONObj]:
        params = {"filters": json.dumps(filters) if filters else None}
        return list(self.json("GET", "/volumes", params=params)["Volumes"] or [])

    def volume_inspect(self, name: str) -> JSONObj:
        return dict(self.json("GET", f"/volumes/{name}"))

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        self.request("DELETE", f"/volumes/{name}", params={"force": force})

    def volume_prune(self, *, all: bool = False) -> JSONObj:
        params = {"filters": json.dumps({"all": ["true"]}) if all else None}
        return dict(self.json("POST", "/volumes/prune", params=params))

    def commit(
        self,
        ref: str,
        *,
        repo: str | None,
        tag: str | None,
        author: str | None,
        message: str | None,
        changes: list[str],
        pause: bool = True,
    ) -> str:
        params = {
            "container": ref,
            "repo": repo,
            "tag": tag,
            "author": author,
            "comment": message,
            "changes": changes or None,
            "pause": pause,
        }
        return str(self.json("POST", "/commit", params=params)["Id"])


class PendingWait:
    """A wait the daemon has registered; :meth:`result` blocks for the exit status."""

    def __init__(self, sock: socket.socket, head: bytes, rest: bytes) -> None:
        self._sock = sock
        self._head = head
        self._rest = rest

    def result(self) -> int:
        """The exit status (raises WharfError if the daemon reports an error)."""
        try:
            body = _read_body(self._sock, self._head, self._rest)
        finally:
            self._sock.close()
        data = json.loads(body)
        if data.get("Error"):
            raise WharfError(f"wait: {data['Error'].get('Message')}")
        return int(data["StatusCode"])

    def close(self) -> None:
        self._sock.close()


def _read_body(sock: socket.socket, head: bytes, rest: bytes) -> bytes:
    """The rest of a response body: Content-Length, chunked, or until close."""
    length = _content_length(head)
    data = rest
    if length is not None:
        while len(data) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data[:length]
    if b"transfer-encoding: chunked" not in head.lower():
        while chunk := sock.recv(65536):
            data += chunk
        return data
    body = b""
    while True:
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return body
            data += chunk
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        while len(data) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                return body + data
            data += chunk
        body += data[:size]
        data = data[size + 2 :]


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None
