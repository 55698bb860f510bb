"""Values that cross the engine-runtime seam (re-exported by ``wharf.runtime.engine``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wharf.errors import InvalidArgument

__all__ = ["ContainerIO", "ContainerState", "ExecState", "Status"]

Status = Literal["created", "running", "paused", "stopped"]


@dataclass(frozen=True)
class ContainerIO:
    """How the monitor wires a container's (or an exec's) stdio.

    Attributes:
        terminal: a pty (``docker -t``); otherwise three pipes.
        stdin: keep stdin open for attach clients (``docker -i``); else it reads /dev/null.
        stdin_once: close the container's stdin when the first attach client half-closes.
        log_path: the json-file log; empty for no log (execs).
        console_size: (height, width) of the pty.
        log_max_size: bytes after which the log is rotated (0: never; ``--log-opt
            max-size``): ``log_path`` becomes ``log_path.1``, ``.1`` becomes ``.2``...
        log_max_files: how many files the log keeps, the current one included
            (``--log-opt max-file``); the oldest goes.
    """

    terminal: bool = False
    stdin: bool = False
    stdin_once: bool = False
    log_path: str = ""
    console_size: tuple[int, int] | None = None
    log_max_size: int = 0
    log_max_files: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "terminal": self.terminal,
            "stdin": self.stdin,
            "stdin_once": self.stdin_once,
            "log_path": self.log_path,
            "console_size": list(self.console_size) if self.console_size else None,
            "log_max_size": self.log_max_size,
            "log_max_files": self.log_max_files,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ContainerIO:
        size = value.get("console_size")
        if size is not None and (
            len(size) != 2 or not all(isinstance(n, int) and 0 < n < 65536 for n in size)
        ):
            raise InvalidArgument(f"io.console_size {size!r}: expected (height, width) > 0")
        return cls(
            terminal=bool(value["terminal"]),
            stdin=bool(value["stdin"]),
            stdin_once=bool(value["stdin_once"]),
            log_path=str(value["log_path"]),
            console_size=(size[0], size[1]) if size else None,
            log_max_size=max(0, int(value.get("log_max_size", 0))),
            log_max_files=max(1, int(value.get("log_max_files", 1))),
        )


@dataclass(frozen=True)
class ContainerState:
    """What the runtime knows of one container.

    Attributes:
        id: the container id.
        status: created (pid 1 waits before execve), running, paused or stopped.
        pid: host pid of the container's pid 1 (0 when stopped).
        exit_code: set once stopped; 128+N when killed by signal N.
        oom_killed: the kernel OOM killer killed a process of the container.
        started_at: RFC 3339 UTC with nanoseconds, once started.
        finished_at: likewise, once stopped.
        error: a set-up failure, or why the status is uncertain (monitor gone).
        monitor_pid: host pid of the container's monitor (0 once it has exited).
    """

    id: str
    status: Status
    pid: int
    exit_code: int | None
    oom_killed: bool
    started_at: str | None
    finished_at: str | None
    error: str
    monitor_pid: int


@dataclass(frozen=True)
class ExecState:
    """What the runtime knows of one exec'd process.

    Attributes:
        container_id: the container it runs in.
        exec_id: its id.
        pid: its host pid.
        running: whether it has not exited yet.
        exit_code: set once exited; 128+N when killed by signal N.
        started_at: RFC 3339 UTC.
        finished_at: RFC 3339 UTC, once exited.
        monitor_pid: host pid of its monitor (0 once it has exited).
    """

    container_id: str
    exec_id: str
    pid: int
    running: bool
    exit_code: int | None
    started_at: str | None
    finished_at: str | None
    monitor_pid: int
