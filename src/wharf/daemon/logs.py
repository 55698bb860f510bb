"""Reading the json-file log the monitor writes: tail, since/until, timestamps, follow.

Each line is ``{"log": "...", "stream": "stdout"|"stderr", "time": "<RFC 3339 nano>"}``, the
format of Docker's json-file driver, so existing tools can read our logs.

Following is event-driven: the reader subscribes to the file's inotify writes (``inotify.py``)
before its first read, sleeps until the monitor writes or the container exits, and ends, as
Docker does, once the container has exited and the rest of the file is drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from wharf.api.backends import LogOptions
from wharf.apitypes.stream import STDERR, STDOUT, frame
from wharf.daemon.inotify import FileWatcher

__all__ = ["parse_rfc3339", "read_logs"]

_CHUNK: Final = 1 << 16  # bytes read at a time: a log is never held whole
# A rotated log's new file comes microseconds after the old one's rename: look for it
# every 5 ms, up to 20 times (then the file was removed: wait for a change or the exit).
_ROTATING: Final = 0.005
_ROTATING_LOOKS: Final = 20


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time with up to nanoseconds (0.0 if unparsable)."""
    if not text or text.startswith("0001-"):
        return 0.0
    main, _, frac = text.rstrip("Z").partition(".")
    offset = "+00:00"
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, rest = frac.partition(sign)
            offset = sign + rest
    try:
        base = datetime.fromisoformat(main + offset).timestamp()
    except ValueError:
        return 0.0
    return base + (float("0." + frac) if frac.isdigit() else 0.0)


def _render(entry: dict[str, Any], options: LogOptions, tty: bool) -> bytes:
    stream = STDERR if entry.get("stream") == "stderr" else STDOUT
    if (stream == STDOUT and not options.stdout) or (stream == STDERR and not options.stderr):
        return b""
    if options.since or options.until:
        when = parse_rfc3339(str(entry.get("time", "")))
        if (options.since and when < options.since) or (options.until and when > options.until):
            return b""
    data = str(entry.get("log", "")).encode("utf-8", "surrogateescape")
    if options.timestamps:
        data = str(entry.get("time", "")).encode() + b" " + data
    return data if tty else frame(stream, data)


def _entries(lines: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line is completed on the next read
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _rotated(path: Path) -> list[Path]:
    """The rotated files of the log at ``path`` (``path.1`` is the newest), oldest first."""
    out: list[Path] = []
    while (older := path.with_name(f"{path.name}.{len(out) + 1}")).exists():
        out.append(older)
    return out[::-1]


def _all_lines(files: list[Path], current: BinaryIO, carry: list[bytes]) -> Iterator[list[bytes]]:
    """The complete lines of ``files`` (the last one open as ``current``), a chunk's worth at
    a time; ``carry[0]`` is left with the current file's unterminated rest."""
    for path in files:
        with contextlib.ExitStack() as stack:
            f = current if path is files[-1] else stack.enter_context(open(path, "rb"))
            rest = b""
            while block := f.read(_CHUNK):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                yield [line + b"\n" for line in lines]
            if path is not files[-1] and rest:
                yield [rest]
            carry[0] = rest


def _last_lines(files: list[Path], current: BinaryIO, n: int) -> tuple[list[bytes], bytes]:
    """(The last ``n`` complete lines of ``files``, the current file's unterminated rest),
    reading backwards a chunk at a time (the last of ``files`` is open as ``current``, and is
    left at its end)."""
    found: list[bytes] = []
    pending = b""
    for path in reversed(files):
        with contextlib.ExitStack() as stack:
            f = current if path is files[-1] else stack.enter_context(open(path, "rb"))
            pos = f.seek(0, os.SEEK_END)
            end = pos
            buf = b""
            while pos > 0 and buf.count(b"\n") <= n:
                step = min(_CHUNK, pos)
                pos -= step
                f.seek(pos)
                buf = f.read(step) + buf
            f.seek(end)
        lines = buf.split(b"\n")
        rest = lines.pop()
        if path is files[-1]:
            pending = rest
        elif rest:
            lines.append(rest)  # a rotated file's torn last entry
        if pos > 0:
            lines = lines[1:]  # cut by the first block read
        found = [line + b"\n" for line in lines] + found
        if len(found) >= n:
            break
    return (found[len(found) - n :] if n else []), pending


def _replaced(path: Path, f: BinaryIO) -> bool | None:
    """Whether ``path`` is no longer the file ``f`` reads (the log was rotated); None while
    there is no file at ``path`` (between the rotation's rename and its new file, or once
    the container is removed)."""
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return None


async def read_logs(
    path: Path,
    options: LogOptions,
    *,
    tty: bool,
    running: Callable[[], bool],
    watcher: FileWatcher,
    exited: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """The log's records as response bytes (stdcopy frames unless ``tty``), its rotated
    files' first.

    With ``follow``, keeps reading new records while ``running()`` is true, waking on the
    file's writes (``watcher``) or on ``exited``, then drains the rest; when the log is
    rotated, drains the old file and goes on with the new one.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - held across awaits while following
    except FileNotFoundError:
        return
    # Subscribed before the first read: a write after it wakes us even if that read missed it.
    subscription = watcher.subscribe(str(path)) if options.follow else None
    try:
        files = [*_rotated(path), path]
        carry = [b""]  # the current file's unterminated rest, completed by the next read
        if options.tail >= 0:
            lines, carry[0] = _last_lines(files, f, options.tail)
            batches: Iterator[list[bytes]] = iter([lines])
        else:
            batches = _all_lines(files, f, carry)
        for batch in batches:
            for entry in _entries(batch):
                if chunk := _render(entry, options, tty):
                    yield chunk
        pending = carry[0]
        if subscription is None:
            return
        looks = 0  # for a rotated log's new file
        while True:
            alive = running()  # before the read: an exit after it still gets one more
            data = f.read()
            replaced = None if data else _replaced(path, f)
            if replaced is None and not data and alive and looks < _ROTATING_LOOKS:
                looks += 1
                await asyncio.sleep(_ROTATING)  # the new file is on its way
                continue
            looks = 0
            if replaced:
                # The monitor rotates after its last write to the old file: that is all read.
                subscription.close()
                subscription = watcher.subscribe(str(path))
                f.close()
                f = open(path, "rb")  # noqa: SIM115
                continue
            if data:
                buffered = (pending + data).split(b"\n")
                pending = buffered.pop()
                for entry in _entries(buffered):
                    when = parse_rfc3339(str(entry.get("time", "")))
                    if options.until and when > options.until:
                        return
                    if chunk := _render(entry, options, tty):
                        yield chunk
                continue
            if not alive:
                return
            await subscription.wait(until=exited)
    finally:
        f.close()
        if subscription is not None:
            subscription.close()
