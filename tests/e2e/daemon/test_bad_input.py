"""Bad input over the real socket: the right status every time, the daemon stays up, and
nothing leaks (containers, mounts, cgroups)."""

from __future__ import annotations

import asyncio
import json
import socket

from tests.e2e.daemon.harness import Daemon, leftover_cgroups


def _http(path: str, request: bytes) -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _post(
    path: str, target: str, body: bytes, ctype: str = "application/json"
) -> tuple[int, bytes]:
    return _http(
        path,
        (
            f"POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body,
    )


def test_bad_bodies_and_refs(daemon: Daemon) -> None:
    sock = str(daemon.socket)
    cases = [
        (b'{"Image": "busybox", "Cmd": ', 400),
        (b'{"Image": "busybox", "Cmd": 7}', 400),
        (b'{"Image": "busybox", "HostConfig": {"Memory": -1}}', 400),
        (b'{"Image": "busybox", "HostConfig": {"CpusetCpus": "x"}}', 400),
        (b'{"Image": "no-such-image"}', 404),
        (b'{"Image": "busybox", "Unknown": {"deep": [1]}, "Cmd": ["true"]}', 201),
        (b"[]", 400),
        (b"\xff\xfe", 400),
    ]
    for body, status in cases:
        got, reply = _post(sock, "/v1.41/containers/create", body)
        assert got == status, (body, reply)
        assert b"message" in reply or status == 201
    with socket.socket(socket.AF_UNIX) as s:  # 8 MiB announced: refused before it is read
        s.connect(sock)
        s.sendall(
            b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 8388608\r\n\r\n"
            + b'{"Image":"busybox","Env":["'
            + b"A" * 65536
        )
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    assert b"over the" in reply
    got, reply = _http(
        sock, b"GET /v1.41/containers/nope/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert (got, json.loads(reply)) == (404, {"message": "No such container: nope"})
    ids = daemon.docker("ps", "-aq").stdout.split()
    assert len(ids) == 1  # only the create with unknown fields succeeded
    daemon.docker("rm", "-f", ids[0].decode())


def test_image_without_cmd_and_failed_start_leave_nothing(daemon: Daemon, tmp_path) -> None:
    empty = tmp_path / "empty.tar"
    import tarfile

    with tarfile.open(empty, "w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    assert daemon.docker("import", str(empty), "nocmd:1").returncode == 0
    result = daemon.docker("run", "--rm", "nocmd:1")
    assert result.returncode == 125
    assert b"no command specified" in result.stderr
    result = daemon.docker("run", "--rm", "busybox", "missing-binary")
    assert result.returncode == 127
    assert daemon.docker("ps", "-aq").stdout == b""
    assert leftover_cgroups(daemon.cgroup_parent) == []
    with open("/proc/self/mounts") as f:
        assert str(daemon.root) not in f.read()
    daemon.docker("rmi", "nocmd:1")


def test_disconnects_mid_stream_and_mid_hijack(daemon: Daemon) -> None:
    daemon.docker(
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 0.05; done",
    )
    sock = str(daemon.socket)
    for _ in range(10):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(
                b"GET /v1.41/containers/chatty/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            s.recv(100)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(
                b"POST /v1.41/containers/chatty/attach?stream=1&stdout=1 HTTP/1.1\r\n"
                b"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
            s.recv(100)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert daemon.docker("ps", "-q", "--filter", "name=chatty").stdout.strip()
    daemon.docker("rm", "-f", "chatty")


def test_thousand_concurrent_requests(daemon: Daemon) -> None:
    sock = str(daemon.socket)

    async def one(i: int) -> int:
        reader, writer = await asyncio.open_unix_connection(sock)
        target = "/v1.41/containers/json" if i % 2 else f"/v1.41/containers/none{i}/json"
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return int(data.split()[1])

    async def main() -> list[int]:
        return await asyncio.gather(*[one(i) for i in range(1000)])

    statuses = asyncio.run(main())
    assert statuses.count(200) == 500
    assert statuses.count(404) == 500
    assert daemon.docker("version").returncode == 0
