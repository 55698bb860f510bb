"""Docker's stdcopy framing for non-TTY attach, exec and logs streams.

Each frame is an 8-byte header ``[stream, 0, 0, 0, size (u32 big-endian)]`` and ``size`` bytes;
stream 0 is stdin, 1 stdout, 2 stderr, 3 a system error. TTY streams are raw bytes, unframed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

__all__ = ["STDERR", "STDIN", "STDOUT", "SYSTEMERR", "Demuxer", "frame"]

STDIN: Final = 0
STDOUT: Final = 1
STDERR: Final = 2
SYSTEMERR: Final = 3
_HEADER: Final = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame carrying ``data`` on ``stream``."""
    return _HEADER.pack(stream, len(data)) + data


class Demuxer:
    """Incremental stdcopy parser: feed bytes, get ``(stream, payload)`` pairs back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Yield every complete frame now buffered."""
        self._buf += data
        while len(self._buf) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._buf)
            end = _HEADER.size + size
            if len(self._buf) < end:
                return
            payload = bytes(self._buf[_HEADER.size : end])
            del self._buf[:end]
            yield stream, payload

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buf)
