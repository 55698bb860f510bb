"""Start an exec'd process in a running container, tolerant of message order.

``wharf.runtime.init.exec_child_main`` runs in a helper that joins the container and
clones the real process with ``CLONE_PARENT``; the helper sends ``P<pid>`` and the process
sends ``R`` once set up, both on one sync channel. Nothing orders the two: on a loaded
machine the new process can report ``R`` before its helper reports ``P``, which
``wharf.runtime.launch.launch_exec`` (expecting ``P`` first) takes for a dead helper,
although the process has started; and when the process fails first, the caller must not
close the channel before the helper has written, or the helper's write fails inside a
clone of the caller. This variant accepts both orders, reaps the helper before closing,
and never lets a clone return into the caller's code.
"""

from __future__ import annotations

import contextlib
import os

from wharf.runtime import syscalls
from wharf.runtime.config import ProcessPlan
from wharf.runtime.init import ChildHandles, exec_child_main
from wharf.runtime.sync import (
    FAILED,
    PID,
    READY,
    SetupFailed,
    SyncChannel,
    error_from_failure,
    sync_pair,
)

__all__ = ["start_exec"]


def start_exec(
    process: ProcessPlan,
    namespaces: tuple[tuple[int, str], ...],
    *,
    container_id: str,
    handles: ChildHandles,
) -> int:
    """Start ``process`` in the container; returns its host pid (the caller's child).

    Raises:
        ExecutableNotFound, NotExecutable: ``process.args[0]`` (exit 127 / 126).
        WharfError: whatever else failed, naming the step.
    """
    parent, child = sync_pair()
    helper = syscalls.clone(0)
    if helper == 0:
        try:
            parent.close()
            exec_child_main(process, namespaces, child, handles=handles)
        finally:
            os._exit(127)  # a clone must never unwind into the caller's code
    child.close()
    pid = 0
    ready = False
    try:
        while not (pid and ready):
            tag, payload = parent.recv()
            if tag == PID:
                pid = int(payload)
                os.waitpid(helper, 0)
                helper = 0
            elif tag == READY:
                ready = True
            elif tag == FAILED:
                raise error_from_failure(payload, container_id)
            else:
                raise SetupFailed(f"container {container_id}: exec process died during set-up")
        return pid
    except BaseException:
        if helper:
            # The process may fail before its helper reported its pid: let the helper
            # finish (its write must not hit a closed channel), then reap the process.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(helper, 0)
            helper = 0
            tag, payload = _recv_nowait(parent)
            if tag == PID:
                pid = int(payload)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        raise
    finally:
        parent.close()
        if helper:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(helper, 0)


def _recv_nowait(channel: SyncChannel) -> tuple[bytes, bytes]:
    """The next queued message, or (b"", b"") if none is waiting."""
    os.set_blocking(channel.fd, False)
    try:
        return channel.recv()
    except BlockingIOError:
        return b"", b""
