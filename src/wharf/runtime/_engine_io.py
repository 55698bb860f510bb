"""The monitor's output formats: the json-file log and Docker's stdcopy frames.

The log is Docker's ``json-file`` format, one object per line::

    {"log":"hi\\n","stream":"stdout","time":"2026-11-21T23:00:00.123456789Z"}

Lines are split like Docker's log copier: a complete line is one entry (its ``\\n`` kept);
a line longer than 16 KiB is cut into 16 KiB entries without ``\\n`` (partial messages);
what is left when the stream ends becomes a last entry, so no output is lost at exit.
"""

from __future__ import annotations

import json
import os
import struct
import time
from typing import Final

from wharf.runtime._engine_state import rfc3339

__all__ = ["MAX_LOG_LINE", "STDERR", "STDOUT", "LineSplitter", "LogWriter", "stdcopy_frame"]

MAX_LOG_LINE: Final = 16 * 1024
STDOUT: Final = 1
STDERR: Final = 2
_STREAM_NAMES: Final = {STDOUT: "stdout", STDERR: "stderr"}
_HEADER: Final = struct.Struct(">BxxxI")


def stdcopy_frame(stream: int, data: bytes) -> bytes:
    """One Docker stdcopy frame: ``[stream, 0, 0, 0, size (u32 big-endian)]`` + data."""
    return _HEADER.pack(stream, len(data)) + data


class LineSplitter:
    """Cuts one output stream into log entries the way Docker's log copier does."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Entries completed by ``data``: whole lines, or 16 KiB pieces of a long one."""
        buf = self._buf + data
        out: list[bytes] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + MAX_LOG_LINE)
            if nl >= 0:
                out.append(buf[start : nl + 1])
                start = nl + 1
            elif len(buf) - start >= MAX_LOG_LINE:
                out.append(buf[start : start + MAX_LOG_LINE])
                start += MAX_LOG_LINE
            else:
                break
        self._buf = buf[start:]
        return out

    def flush(self) -> list[bytes]:
        """The unterminated rest of the stream, if any (called at end of stream)."""
        rest, self._buf = self._buf, b""
        return [rest] if rest else []


class LogWriter:
    """Appends json-file entries to ``path`` (no file at all when ``path`` is empty).

    With ``max_size``, once the file has reached that many bytes it is rotated as
    Docker's json-file driver does: ``path.{n-1}`` becomes ``path.{n}`` (the oldest, past
    ``max_files - 1``, is dropped), ``path`` becomes ``path.1``, and a new ``path`` is
    started; with ``max_files`` 1 the file is started afresh. Readers follow the name.
    """

    def __init__(self, path: str, max_size: int = 0, max_files: int = 1) -> None:
        self._fd = -1
        self._path = path
        self._max_size = max_size
        self._max_files = max(1, max_files)
        self._size = 0
        if path:
            self._open()
        self._splitters = {STDOUT: LineSplitter(), STDERR: LineSplitter()}

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self._path, flags, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        os.close(self._fd)
        if self._max_files == 1:
            os.unlink(self._path)
        else:
            for n in range(self._max_files - 1, 1, -1):
                older = f"{self._path}.{n - 1}"
                if os.path.exists(older):
                    os.replace(older, f"{self._path}.{n}")
            os.replace(self._path, f"{self._path}.1")
        self._open()

    def write(self, stream: int, data: bytes) -> None:
        """Log ``data`` read from ``stream`` (STDOUT or STDERR)."""
        if self._fd >= 0:
            self._emit(stream, self._splitters[stream].feed(data))

    def flush(self) -> None:
        """Log every unterminated rest (the streams have ended)."""
        if self._fd >= 0:
            for stream, splitter in self._splitters.items():
                self._emit(stream, splitter.flush())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _emit(self, stream: int, entries: list[bytes]) -> None:
        if not entries:
            return
        stamp = rfc3339(time.time_ns())
        name = _STREAM_NAMES[stream]
        lines = [
            json.dumps(
                {"log": e.decode("utf-8", "replace"), "stream": name, "time": stamp},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for e in entries
        ]
        if not self._max_size:
            self._write(("\n".join(lines) + "\n").encode())
            return
        batch: list[bytes] = []  # what fits before the file reaches its size
        room = self._max_size - self._size
        for line in lines:
            data = line.encode() + b"\n"
            batch.append(data)
            room -= len(data)
            if room <= 0:
                self._write(b"".join(batch))
                self._rotate()
                batch, room = [], self._max_size
        if batch:
            self._write(b"".join(batch))

    def _write(self, data: bytes) -> None:
        self._size += len(data)
        while data:
            data = data[os.write(self._fd, data) :]
