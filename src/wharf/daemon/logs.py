"""Reading the json-file log the monitor writes: tail, since/until, timestamps, follow.

Each line is ``{"log": "...", "stream": "stdout"|"stderr", "time": "<RFC 3339 nano>"}``, the
format of Docker's json-file driver, so existing tools can read our logs.

Following is event-driven: the reader subscribes to the file's inotify writes (``inotify.py``)
before its first read, sleeps until the monitor writes or the container exits, and ends, as
Docker does, once the container has exited and the rest of the file is drained.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from wharf.api.backends import LogOptions
from wharf.apitypes.stream import STDERR, STDOUT, frame
from wharf.daemon.inotify import FileWatcher

__all__ = ["parse_rfc3339", "read_logs"]


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


async def read_logs(
    path: Path,
    options: LogOptions,
    *,
    tty: bool,
    running: Callable[[], bool],
    watcher: FileWatcher,
    exited: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """The log's records as response bytes (stdcopy frames unless ``tty``).

    With ``follow``, keeps reading new records while ``running()`` is true, waking on the
    file's writes (``watcher``) or on ``exited``, then drains the rest.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - held across awaits while following
    except FileNotFoundError:
        return
    # Subscribed before the first read: a write after it wakes us even if that read missed it.
    subscription = watcher.subscribe(str(path)) if options.follow else None
    try:
        with f:
            lines = f.read().splitlines(keepends=True)
            pending = b""
            if lines and not lines[-1].endswith(b"\n"):
                pending = lines.pop()
            if options.tail >= 0:
                lines = lines[len(lines) - options.tail :] if options.tail else []
            for entry in _entries(lines):
                if chunk := _render(entry, options, tty):
                    yield chunk
            if subscription is None:
                return
            while True:
                alive = running()  # before the read: an exit after it still gets one more
                data = f.read()
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
        if subscription is not None:
            subscription.close()
