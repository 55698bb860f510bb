"""``syscalls.SharedClone`` on the real kernel (no privileges needed): the child runs in
our interpreter and address space, we go on once it has exec'd or exited, and its status
is ours to reap.

Each case calls it in a forked helper that reports over a pipe: once the call returns,
its caller may only call builtins and exit (the child's frames are left on the
interpreter's thread state): another clone, or Python code called from C, would crash
it."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable

from wharf.runtime import syscalls


def _in_helper(body: Callable[[int], None]) -> list[str]:
    """Run ``body(w)`` in a forked helper; returns the words it wrote to ``w``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            body(w)
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    return out.decode().split()


def test_the_child_runs_in_our_memory_and_we_go_on_once_it_has_execd() -> None:
    sh = shutil.which("sh")
    assert sh

    def body(w: int) -> None:
        seen: list[int] = []
        hold_r, hold_w = os.pipe()

        def child() -> None:
            seen.append(os.getpid())
            os.dup2(hold_r, 0)
            syscalls.execve(sh, ["sh", "-c", "read line; exit 3"], {})

        pid = syscalls.SharedClone()(0, child)
        exe = os.readlink(f"/proc/{pid}/exe")  # while it waits for its line: exec'd
        os.write(hold_w, b"go\n")
        _, status = os.waitpid(pid, 0)
        os.write(w, b"%d %d %s %d" % (pid, seen[0], os.fsencode(exe), status >> 8))

    pid, seen, exe, code = _in_helper(body)
    assert seen == pid  # the child's append is in our memory
    assert exe == os.path.realpath(sh)
    assert code == "3"


def _exit_code_of(child: Callable[[], object]) -> str:
    def body(w: int) -> None:
        pid = syscalls.SharedClone()(0, child)
        _, status = os.waitpid(pid, 0)
        os.write(w, b"%d" % os.waitstatus_to_exitcode(status))

    [code] = _in_helper(body)
    return code


def test_exit_now_ends_the_child_with_its_code() -> None:
    assert _exit_code_of(lambda: syscalls.exit_now(7)) == "7"


def test_a_child_that_returns_or_raises_exits_1() -> None:
    def fails() -> None:
        raise RuntimeError("in the child")

    assert _exit_code_of(lambda: None) == "1"
    assert _exit_code_of(fails) == "1"


def test_a_failed_execve_raises_oserror_naming_the_path() -> None:
    def child() -> None:
        try:
            syscalls.execve("/nonexistent/prog", ["prog"], {})
        except OSError as exc:
            syscalls.exit_now(100 + (exc.errno or 0) if exc.filename == "/nonexistent/prog" else 1)

    assert _exit_code_of(child) == str(100 + errno.ENOENT)


def test_the_child_may_use_its_stack_past_the_part_made_ahead() -> None:
    def child() -> None:
        nested: list[object] = []
        for _ in range(20000):
            nested = [nested]
        sys.setrecursionlimit(50000)
        syscalls.exit_now(repr(nested).count("[") % 256)  # C recursion, some MB deep

    assert _exit_code_of(child) == str(20001 % 256)


def test_current_cpu_is_one_we_may_run_on() -> None:
    assert syscalls.current_cpu() in os.sched_getaffinity(0)
