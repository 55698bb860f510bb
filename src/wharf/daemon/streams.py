"""Bridges between async request/response bodies and the synchronous image-store calls.

The image store reads and writes blocking file objects; the API deals in async byte iterators.
A pipe sits between them: one side is driven by a worker thread, the other by the event loop,
so memory stays bounded whatever the size of the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import IO, Final, TypeVar

__all__ = ["from_writer", "to_reader"]

_CHUNK: Final = 1 << 16
_T = TypeVar("_T")


async def from_writer(write: Callable[[IO[bytes]], None]) -> AsyncIterator[bytes]:
    """Run ``write(out)`` in a thread and yield what it writes, as it writes it.

    The exception ``write`` raises (if any) is raised after the bytes written before it.
    """
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    out = os.fdopen(write_fd, "wb")

    def produce() -> None:
        try:
            write(out)
        finally:
            with contextlib.suppress(OSError):
                out.close()

    task = loop.run_in_executor(None, produce)
    try:
        while True:
            chunk = await loop.run_in_executor(None, os.read, read_fd, _CHUNK)
            if not chunk:
                break
            yield chunk
        await task
    finally:
        os.close(read_fd)  # a writer still running now gets EPIPE and stops
        if not task.done():
            with contextlib.suppress(Exception):
                await task


async def to_reader(body: AsyncIterator[bytes], read: Callable[[IO[bytes]], _T]) -> _T:
    """Run ``read(stream)`` in a thread while feeding it ``body``; return its result."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "rb")

    def consume() -> _T:
        try:
            return read(stream)
        finally:
            stream.close()

    task = loop.run_in_executor(None, consume)
    try:
        async for chunk in body:
            if task.done():
                break
            view = memoryview(chunk)
            while view:
                try:
                    written = await loop.run_in_executor(None, os.write, write_fd, view)
                except BrokenPipeError:
                    view = view[len(view) :]
                    break
                view = view[written:]
    finally:
        os.close(write_fd)
    return await task
