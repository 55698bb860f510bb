"""What the commands share: the client, error -> exit code, docker-style tables, streams."""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

if TYPE_CHECKING:
    from wharf.client import Client, RawStream

__all__ = [
    "EXIT_DAEMON",
    "age",
    "client",
    "fail",
    "handle_errors",
    "parse_filters",
    "print_table",
    "pump",
    "raw_terminal",
    "short_id",
    "size",
]

EXIT_DAEMON: Final = 125
_F = TypeVar("_F", bound=Callable[..., Any])


def client(ctx: click.Context) -> Client:
    """A client for the daemon named by ``-H``, ``WHARF_HOST`` or ``DOCKER_HOST``."""
    from wharf.client import Client

    root = ctx.find_root()
    return Client(root.obj if isinstance(root.obj, str) else None)


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` on stderr (docker's one-line style) and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def handle_errors(code: int = 1) -> Callable[[_F], _F]:
    """Turn error kinds into one line on stderr and exit ``code``."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            from wharf.errors import WharfError

            try:
                return fn(*args, **kwargs)
            except WharfError as exc:
                fail(f"Error response from daemon: {exc}", code)
            except KeyboardInterrupt:
                sys.exit(130)
            return None

        return inner  # type: ignore[return-value]

    return wrap


def parse_filters(values: Sequence[str]) -> dict[str, list[str]]:
    """``--filter k=v`` options -> the API's filters map."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key, []).append(value)
    return out


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded like docker's tabwriter (three spaces between columns)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [headers, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        click.echo("   ".join([*cells, row[-1]]).rstrip())


def short_id(value: str) -> str:
    """12 hex characters of an id (without ``sha256:``)."""
    return value.removeprefix("sha256:")[:12]


def age(unix: float) -> str:
    """``5 minutes ago`` style."""
    seconds = max(0, int(time.time() - unix))
    if seconds < 1:
        return "Less than a second ago"
    if seconds < 60:
        return f"{seconds} seconds ago"
    minutes = seconds // 60
    if minutes < 60:
        return "About a minute ago" if minutes == 1 else f"{minutes} minutes ago"
    hours = seconds // 3600
    if hours < 48:
        return "About an hour ago" if hours == 1 else f"{hours} hours ago"
    days = hours // 24
    if days < 14:
        return f"{days} days ago"
    if days < 60:
        return f"{days // 7} weeks ago"
    if days < 730:
        return f"{days // 30} months ago"
    return f"{days // 365} years ago"


def size(n: float) -> str:
    """Docker's decimal sizes: ``4.26MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"


class raw_terminal:
    """Put stdin's terminal in raw mode for ``-it``; restore it on exit."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stdin.isatty()
        self._saved: Any = None

    def __enter__(self) -> raw_terminal:
        if self.enabled:
            import termios
            import tty

            self._saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno(), termios.TCSANOW)  # keep input typed already
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)


def terminal_size() -> tuple[int, int] | None:
    """(height, width) of stdout's terminal, if any."""
    try:
        cols, rows = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return None
    return rows, cols


def on_resize(resize: Callable[[int, int], None]) -> None:
    """Send the terminal size now and on every SIGWINCH."""

    def send(*_: object) -> None:
        dims = terminal_size()
        if dims:
            from wharf.errors import WharfError

            with contextlib.suppress(WharfError):
                resize(*dims)

    send()
    signal.signal(signal.SIGWINCH, send)


def pump(stream: RawStream, *, tty: bool, stdin: bool) -> None:
    """Copy stdin -> stream and stream -> stdout/stderr (demultiplexed unless ``tty``)."""
    from wharf.apitypes.stream import STDERR, Demuxer

    demux = None if tty else Demuxer()
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    in_fd = sys.stdin.fileno() if stdin else -1
    if not stdin:
        stream.close_write()
    watch = [stream.fileno(), *([in_fd] if stdin else [])]

    def emit(data: bytes) -> None:
        if demux is None:
            out.write(data)
            out.flush()
            return
        for kind, payload in demux.feed(data):
            target = err if kind == STDERR else out
            target.write(payload)
            target.flush()

    emit(stream.take_buffered())
    while True:
        ready, _, _ = select.select(watch, [], [])
        if in_fd in ready:
            data = os.read(in_fd, 65536)
            if data:
                stream.send(data)
            else:
                stream.close_write()
                watch.remove(in_fd)
        if stream.fileno() in ready:
            data = stream.recv()
            if not data:
                break
            emit(data)


def copy_out(chunks: Iterator[bytes], tty: bool) -> None:
    """Write a logs stream to stdout/stderr."""
    from wharf.apitypes.stream import STDERR, Demuxer

    demux = None if tty else Demuxer()
    for chunk in chunks:
        if demux is None:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            continue
        for kind, payload in demux.feed(chunk):
            target = sys.stderr.buffer if kind == STDERR else sys.stdout.buffer
            target.write(payload)
            target.flush()
