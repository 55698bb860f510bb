"""``docker top``: the processes of a container's cgroup, read from /proc (as containerd
lists a task's; its pid namespace may be the host's or another container's)."""

from __future__ import annotations

import os
import pwd
from typing import Final

from wharf.apitypes import TopResult
from wharf.errors import Conflict

__all__ = ["processes"]

_TITLES: Final = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")


def _cgroups(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def processes(pid1: int) -> TopResult:
    """Every process in ``pid1``'s cgroups, ps -ef style.

    Raises:
        Conflict: ``pid1`` is gone.
    """
    try:
        target = _cgroups(pid1)
    except OSError:
        raise Conflict(f"container process {pid1} is not running") from None
    ticks = os.sysconf("SC_CLK_TCK")
    rows = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if _cgroups(pid) != target:
                continue
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ppid = fields[1]
        cpu_seconds = (int(fields[11]) + int(fields[12])) // ticks
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        hours, rest = divmod(cpu_seconds, 3600)
        rows.append(
            (
                _user(uid),
                str(pid),
                ppid,
                "0",
                "",
                "?",
                f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
                cmdline or f"[{name}]",
            )
        )
    rows.sort(key=lambda r: int(r[1]))
    return TopResult(titles=_TITLES, processes=tuple(rows))
