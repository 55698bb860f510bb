"""Network namespaces kept alive by a bind mount of their nsfs file, and commands run inside.

A namespace is made by a short-lived thread that unshares ``CLONE_NEWNET`` (only that thread
moves), bind-mounts ``/proc/thread-self/ns/net`` on the file and then runs the set-up commands
from inside it (a child forked by that thread starts in the thread's namespace). The daemon's
other threads never change namespace. Namespaces die when the bind mount is gone and the last
process in them has exited.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from wharf.errors import Unavailable
from wharf.mount import Mount, unmount

__all__ = ["create_netns", "remove_netns", "run_in_netns", "run_ip"]

CLONE_NEWNET: Final = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_T = TypeVar("_T")


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise Unavailable(f"{what}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], _T]) -> _T:
    results: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="wharf-netns")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def run_ip(batch: Sequence[str], *, what: str) -> None:
    """Run ``ip -batch`` with ``batch`` in the calling thread's namespace.

    Raises:
        Unavailable: ``ip`` failed; its message is kept.
    """
    if not batch:
        return
    proc = subprocess.run(
        ["ip", "-batch", "-"],
        input="\n".join(batch) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise Unavailable(f"{what}: {proc.stderr.strip() or 'ip failed'}")


def create_netns(
    path: str,
    setup: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
) -> None:
    """A new network namespace pinned at ``path``; ``setup`` runs inside it, then ``after``
    back in the caller's namespace (both in the same short-lived thread).

    Raises:
        Unavailable: the kernel refused, or ``setup``/``after`` failed (nothing is left behind).
    """
    with open(path, "x"):
        pass

    def make() -> None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            Mount(type="none", source="/proc/thread-self/ns/net", options=("bind",)).mount(path)
            if setup is not None:
                setup()
            if after is not None:
                _check(_libc.setns(home, CLONE_NEWNET), "setns(back)")
                after()
        finally:
            os.close(home)

    try:
        _in_thread(make)
    except BaseException:
        remove_netns(path)
        raise


def run_in_netns(path: str, fn: Callable[[], _T]) -> _T:
    """Call ``fn`` in a thread that joined the namespace at ``path``.

    Raises:
        NotFound-like Unavailable: the namespace file cannot be opened or joined.
    """

    def joined() -> _T:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise Unavailable(f"network namespace {path}: {exc.strerror}") from None
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"setns({path})")
        finally:
            os.close(fd)
        return fn()

    return _in_thread(joined)


def remove_netns(path: str) -> None:
    """Unpin and delete the namespace file at ``path`` (missing is fine)."""
    with contextlib.suppress(OSError):
        unmount(path, detach=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
