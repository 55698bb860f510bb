"""Sessions pumping bytes between a hijacked API connection and a monitor's attach socket.

The runtime's monitor serves a unix stream socket per container (and per exec): on connect it
streams the live output (raw for a terminal, else stdcopy frames) and writes what it receives to
the process's stdin; our half-close closes that stdin when the container was created with
StdinOnce. A session ends when the output ends (the process exited), the client types the detach
keys, or the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

from wharf.api.backends import HijackedConn
from wharf.apitypes.stream import STDERR, STDOUT, Demuxer, frame
from wharf.errors import InvalidArgument, WharfError

__all__ = ["DEFAULT_DETACH_KEYS", "StreamSession", "parse_detach_keys"]

DEFAULT_DETACH_KEYS: Final = b"\x10\x11"  # ctrl-p, ctrl-q


def parse_detach_keys(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` -> bytes; ``""`` -> Docker's default.

    Raises:
        InvalidArgument: an element is neither one character nor ``ctrl-<key>``.
    """
    if not spec:
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for part in spec.split(","):
        key = part.strip().lower()
        if len(key) == 1:
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6:
            char = key[5]
            if "a" <= char <= "z":
                out.append(ord(char) - ord("a") + 1)
            elif char in "@[\\]^_":
                out.append(ord(char) - ord("@"))
            else:
                raise InvalidArgument(f"detachKeys: invalid key {part!r}")
        else:
            raise InvalidArgument(f"detachKeys: invalid key {part!r}; expected e.g. ctrl-p,ctrl-q")
    return bytes(out)


class StreamSession:
    """A :class:`~wharf.api.backends.Session` over a monitor's attach socket."""

    def __init__(
        self,
        socket_path: str,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._path = socket_path
        self._tty = tty
        self._stdin = stdin
        self._stdout = stdout
        self._stderr = stderr
        self._detach_keys = detach_keys
        self._on_connected = on_connected
        self.detached = False

    @property
    def tty(self) -> bool:
        return self._tty

    async def run(self, upgrade: Callable[[], Awaitable[HijackedConn]]) -> None:
        # Connected first: the monitor then sends us the output from its start (it takes
        # waiting attach connections before it reads output), whenever the client starts it.
        try:
            reader, writer = await asyncio.open_unix_connection(self._path)
        except OSError:
            await upgrade()
            return  # the process is gone: nothing to stream
        try:
            conn = await upgrade()
        except BaseException:
            writer.close()
            raise
        if self._on_connected is not None:
            try:
                self._on_connected()
            except WharfError as exc:
                message = f"{exc}\n".encode()
                await conn.write(message if self._tty else frame(STDERR, message))
                writer.close()
                return
        output = asyncio.create_task(self._output(reader, conn))
        client = asyncio.create_task(self._input(conn, writer))
        try:
            done, _ = await asyncio.wait({output, client}, return_when=asyncio.FIRST_COMPLETED)
            if client in done and (self.detached or conn.closed):
                output.cancel()
            else:
                await output
        finally:
            for task in (output, client):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _output(self, reader: asyncio.StreamReader, conn: HijackedConn) -> None:
        demux = None if self._tty or (self._stdout and self._stderr) else Demuxer()
        while chunk := await reader.read(1 << 16):
            if demux is not None:
                wanted = {STDOUT} if self._stdout else set()
                if self._stderr:
                    wanted.add(STDERR)
                chunk = b"".join(frame(s, data) for s, data in demux.feed(chunk) if s in wanted)
                if not chunk:
                    continue
            try:
                await conn.write(chunk)
            except ConnectionError:
                return

    async def _input(self, conn: HijackedConn, writer: asyncio.StreamWriter) -> None:
        matched = 0
        keys = self._detach_keys
        while data := await conn.read():
            if not self._stdin:
                continue
            out = bytearray()
            for byte in data:
                if keys and byte == keys[matched]:
                    matched += 1
                    if matched == len(keys):
                        self.detached = True
                        if out:
                            writer.write(bytes(out))
                        return
                    continue
                if matched:
                    out += keys[:matched]
                    matched = 0
                out.append(byte)
            if out:
                writer.write(bytes(out))
                await writer.drain()
        if conn.closed:
            return
        if self._stdin and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
        # keep the session open: output continues after a client half-close
        await asyncio.Future()
