"""File-change notifications for ``logs -f``: one inotify instance on the event loop.

Every follower of a container's log subscribes to its path; the instance watches each file once
(the kernel gives one watch descriptor per inode) and wakes every subscriber of a file when the
monitor writes to it. An idle follower costs nothing: the loop sleeps in epoll until the kernel
reports a write. Where inotify is unavailable (no instances or watches left), a subscription
falls back to polling the file every 50 ms.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from typing import Final

__all__ = ["FileWatcher", "Subscription"]

_IN_NONBLOCK: Final = os.O_NONBLOCK
_IN_CLOEXEC: Final = os.O_CLOEXEC
_IN_MODIFY: Final = 0x002
_IN_CLOSE_WRITE: Final = 0x008
_IN_DELETE_SELF: Final = 0x400
_IN_MOVE_SELF: Final = 0x800
_IN_IGNORED: Final = 0x8000
_MASK: Final = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_DELETE_SELF | _IN_MOVE_SELF
_EVENT: Final = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_POLL: Final = 0.05

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


class Subscription:
    """One follower's interest in one file; :meth:`wait` returns after the next change."""

    def __init__(self, watcher: FileWatcher, wd: int | None) -> None:
        self._watcher = watcher
        self.wd = wd
        self.changed = asyncio.Event()

    @property
    def polling(self) -> bool:
        """Whether this subscription polls (inotify was not available for it)."""
        return self.wd is None

    async def wait(self, *, until: asyncio.Event | None = None) -> None:
        """Return once the file changed since the last wait (or ``until`` is set)."""
        if self.polling:
            await asyncio.sleep(_POLL)
            return
        if until is None:
            await self.changed.wait()
        elif not self.changed.is_set() and not until.is_set():
            waiters = {
                asyncio.ensure_future(self.changed.wait()),
                asyncio.ensure_future(until.wait()),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        self.changed.clear()

    def close(self) -> None:
        """Stop watching (the last subscriber of a file removes the kernel's watch)."""
        self._watcher.unsubscribe(self)


class FileWatcher:
    """The daemon's inotify instance, read on the event loop (create it on the loop thread)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[int, set[Subscription]] = {}

    def _open(self) -> int:
        if self._fd is None:
            fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd < 0:
                errno = ctypes.get_errno()
                raise OSError(errno, os.strerror(errno), "inotify_init1")
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(fd, self._read)
            self._fd = fd
        return self._fd

    def subscribe(self, path: str) -> Subscription:
        """Watch ``path`` for writes; subscribe *before* reading to miss nothing."""
        try:
            fd = self._open()
        except OSError:
            return Subscription(self, None)
        wd = _libc.inotify_add_watch(fd, os.fsencode(path), _MASK)
        if wd < 0:
            return Subscription(self, None)
        subscription = Subscription(self, wd)
        self._subscribers.setdefault(wd, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription``; drop the kernel watch with its last subscriber."""
        wd = subscription.wd
        if wd is None or wd not in self._subscribers:
            return
        subscribers = self._subscribers[wd]
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[wd]
            if self._fd is not None:
                _libc.inotify_rm_watch(self._fd, wd)  # EINVAL if the file is gone: fine

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            for subscription in self._subscribers.get(wd, ()):
                subscription.changed.set()
            if mask & _IN_IGNORED:
                # The file is gone: its subscribers got their wake-up and poll from now on.
                for subscription in self._subscribers.pop(wd, ()):
                    subscription.wd = None

    @property
    def watched(self) -> int:
        """How many files are being watched."""
        return len(self._subscribers)

    def close(self) -> None:
        """Close the instance (subscribers fall silent)."""
        if self._fd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        self._subscribers.clear()
