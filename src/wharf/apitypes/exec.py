"""Exec wire types: the ``POST /containers/{id}/exec`` body and ``GET /exec/{id}/json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.apitypes.common import get_bool, get_str, get_str_list
from wharf.errors import InvalidArgument

__all__ = ["ExecConfig", "ExecView"]


@dataclass(frozen=True)
class ExecConfig:
    """A validated exec create body."""

    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    privileged: bool = False
    detach_keys: str = ""

    @classmethod
    def from_json(cls, data: object) -> ExecConfig:
        """Parse the exec create body.

        Raises:
            InvalidArgument: not an object, no ``Cmd``, or a field of the wrong type.
        """
        if not isinstance(data, dict):
            raise InvalidArgument("exec config: expected a JSON object")
        cmd = get_str_list(data, "Cmd", "Cmd")
        if not cmd:
            raise InvalidArgument("Cmd: no exec command specified")
        return cls(
            cmd=cmd,
            env=get_str_list(data, "Env", "Env") or (),
            user=get_str(data, "User", "User"),
            working_dir=get_str(data, "WorkingDir", "WorkingDir"),
            tty=get_bool(data, "Tty", "Tty"),
            attach_stdin=get_bool(data, "AttachStdin", "AttachStdin"),
            attach_stdout=get_bool(data, "AttachStdout", "AttachStdout"),
            attach_stderr=get_bool(data, "AttachStderr", "AttachStderr"),
            privileged=get_bool(data, "Privileged", "Privileged"),
            detach_keys=get_str(data, "DetachKeys", "DetachKeys"),
        )


@dataclass(frozen=True)
class ExecView:
    """``GET /exec/{id}/json``; ``exit_code`` is None while the process runs or before start."""

    id: str
    container_id: str
    config: ExecConfig
    running: bool
    exit_code: int | None
    pid: int

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "ID": self.id,
            "ContainerID": self.container_id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "Pid": self.pid,
            "OpenStdin": self.config.attach_stdin,
            "OpenStdout": self.config.attach_stdout,
            "OpenStderr": self.config.attach_stderr,
            "CanRemove": False,
            "DetachKeys": self.config.detach_keys,
            "ProcessConfig": {
                "tty": self.config.tty,
                "entrypoint": self.config.cmd[0],
                "arguments": list(self.config.cmd[1:]),
                "privileged": self.config.privileged,
                "user": self.config.user,
            },
        }
