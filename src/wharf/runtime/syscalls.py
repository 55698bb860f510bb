"""The Linux system calls the runtime needs that Python 3.11's ``os`` lacks, through ctypes.

Every symbol is resolved at import time, in the parent: a freshly cloned child must not
dlsym (it costs per container) and must not import (after pivot_root the modules are gone).
Failures are translated to Wharf's error kinds here, at the seam, keeping ``errno``.

``clone`` goes through ``ctypes.PyDLL`` so the GIL stays held across the call: the child
resumes in the interpreter exactly where the parent was, as after ``os.fork``, but without
the fork hooks and with the namespace flags applied. The child may only use ``os.*``,
pre-resolved functions from this module and then :func:`exit_now`/:func:`execve`
(a ``SharedClone`` child must: they release the GIL).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import mmap
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Final, NoReturn

from wharf.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    WharfError,
)

__all__ = [
    "CLONE_INTO_CGROUP",
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "CLONE_PIDFD",
    "NAMESPACE_FLAGS",
    "CapsetArgs",
    "SharedClone",
    "SyscallError",
    "capget",
    "capset",
    "clone",
    "clone3",
    "current_cpu",
    "error_from_errno",
    "execve",
    "exit_now",
    "mount",
    "pidfd_open",
    "pidfd_send_signal",
    "pivot_root",
    "prctl",
    "prctl_each",
    "setdomainname",
    "sethostname",
    "setns",
    "umount2",
    "unshare",
]

CLONE_NEWTIME: Final = 0x00000080
CLONE_VM: Final = 0x00000100
CLONE_PIDFD: Final = 0x00001000
CLONE_VFORK: Final = 0x00004000
CLONE_PARENT: Final = 0x00008000
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000
CLONE_INTO_CGROUP: Final = 0x200000000

# OCI runtime-spec namespace type -> clone flag.
NAMESPACE_FLAGS: Final[dict[str, int]] = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

# x86_64 syscall numbers.
_SYS_CLONE: Final = 56
_SYS_PIVOT_ROOT: Final = 155
_SYS_CAPGET: Final = 125
_SYS_CAPSET: Final = 126
_SYS_PIDFD_SEND_SIGNAL: Final = 424
_SYS_PIDFD_OPEN: Final = 434
_SYS_CLONE3: Final = 435
_SYS_MOUNT_SETATTR: Final = 442
_AT_FDCWD: Final = -100
_AT_RECURSIVE: Final = 0x8000

MOUNT_ATTR_RDONLY: Final = 0x1
MOUNT_ATTR_NOSUID: Final = 0x2
MOUNT_ATTR_NODEV: Final = 0x4
MOUNT_ATTR_NOEXEC: Final = 0x8

_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
# PyDLL: the GIL is not released, so the cloned child continues in a consistent interpreter.
_pylibc = ctypes.PyDLL("libc.so.6", use_errno=True)

_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_pysyscall = _pylibc.syscall
_pysyscall.restype = ctypes.c_long
_unshare = _libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = _libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]
_sethostname = _libc.sethostname
_sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_setdomainname = _libc.setdomainname
_setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_mount = _libc.mount
_mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_umount2 = _libc.umount2
_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_get_errno = ctypes.get_errno
_CLONE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_libc_clone = _libc.clone
_libc_clone.argtypes = [_CLONE_FN, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_libc_clone.restype = ctypes.c_int
_fexecve = _libc.fexecve
_fexecve.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_execve = _libc.execve
_execve.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]
_exit_now = _libc._exit
_exit_now.argtypes = [ctypes.c_int]
_mprotect = _libc.mprotect
_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_sched_getcpu = _libc.sched_getcpu
_sched_getcpu.argtypes = []


class SyscallError(WharfError, OSError):
    """A system call failed with an errno that has no better kind."""


_KINDS: Final[dict[int, type[WharfError]]] = {
    _errno.ENOENT: NotFound,
    _errno.EEXIST: AlreadyExists,
    _errno.EPERM: PermissionDenied,
    _errno.EACCES: PermissionDenied,
    _errno.EBUSY: Conflict,
    _errno.EINVAL: InvalidArgument,
}


def error_from_errno(err: int, what: str) -> WharfError:
    """The Wharf error kind for ``err``, with ``what`` (the call and its object) in the
    message and the errno kept as ``.errno``."""
    kind = _KINDS.get(err, SyscallError)
    exc = kind(f"{what}: {os.strerror(err)}")
    exc.errno = err  # type: ignore[attr-defined]
    return exc


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise error_from_errno(_get_errno(), what)
    return rc


def clone(flags: int) -> int:
    """Raw clone(2) with the given CLONE_* flags and SIGCHLD; fork semantics.

    Returns:
        0 in the child, the child's pid (in the caller's pid namespace) in the parent.
    """
    return _check(
        _pysyscall(_SYS_CLONE, ctypes.c_ulong(flags | signal.SIGCHLD), 0, 0, 0, 0), "clone"
    )


class SharedClone:
    """clone(2) a child that shares our address space (``CLONE_VM | CLONE_VFORK``, plus
    ``flags``) and runs ``child()`` in this interpreter, on a stack of its own, while we
    wait in the kernel; the call returns its pid once it has exec'd or exited. Its exec
    then costs it no teardown: the address space stays ours, for our exit to free.

    The child takes the GIL that the wait releases, and must end with :func:`execve`
    or :func:`exit_now`, which release it again (``os.execve`` and ``os._exit`` keep it:
    we would wait for it forever). The caller, single-threaded, must only exit after
    the call returns: the child's frames are still on the interpreter's thread state. So
    an instance is called once.

    Made ahead of the call, while nobody waits: the stack (its top ``prefault`` bytes
    touched) and the entry point, a ctypes closure. Made on the call, in a process
    that had made no closure before (libffi sets up its trampolines then), they cost
    ~1 ms before the child ran, against ~0.3 ms (measured on a cold fork, slow phase).
    """

    def __init__(self, *, stack_size: int = 8 << 20, prefault: int = 256 << 10) -> None:
        self._stack = mmap.mmap(-1, stack_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._stack))
        _check(_mprotect(base, mmap.PAGESIZE, 0), "mprotect")  # a guard page: PROT_NONE
        for offset in range(stack_size - prefault, stack_size, mmap.PAGESIZE):
            self._stack[offset] = 0
        self._top = (base + stack_size) & ~15
        self._child: Callable[[], object] = lambda: None

        def run(_: object) -> int:
            try:
                self._child()
            finally:
                exit_now(1)

        self._entry = _CLONE_FN(run)

    def __call__(self, flags: int, child: Callable[[], object]) -> int:
        self._child = child
        return _check(
            _libc_clone(
                self._entry, self._top, flags | CLONE_VM | CLONE_VFORK | signal.SIGCHLD, None
            ),
            "clone",
        )


def current_cpu() -> int:
    """The CPU we run on (sched_getcpu(3))."""
    return _check(_sched_getcpu(), "sched_getcpu")


def _cstrings(items: Sequence[str | bytes]) -> ctypes.Array[ctypes.c_char_p]:
    arr = (ctypes.c_char_p * (len(items) + 1))()
    arr[:-1] = [os.fsencode(item) for item in items]
    return arr


def execve(path: str | int, args: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """``os.execve`` (``path`` a str or an fd) that releases the GIL first: the only
    way for a :class:`SharedClone` child to exec."""
    argv = _cstrings(args)
    envp = _cstrings([f"{k}={v}" for k, v in env.items()])
    if isinstance(path, int):
        _fexecve(path, argv, envp)
    else:
        _execve(os.fsencode(path), argv, envp)
    err = _get_errno()
    raise OSError(err, os.strerror(err), path)


def exit_now(code: int) -> NoReturn:
    """``os._exit`` that releases the GIL first (see :class:`SharedClone`)."""
    _exit_now(code)
    raise AssertionError("unreachable")


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("pidfd", ctypes.c_uint64),
        ("child_tid", ctypes.c_uint64),
        ("parent_tid", ctypes.c_uint64),
        ("exit_signal", ctypes.c_uint64),
        ("stack", ctypes.c_uint64),
        ("stack_size", ctypes.c_uint64),
        ("tls", ctypes.c_uint64),
        ("set_tid", ctypes.c_uint64),
        ("set_tid_size", ctypes.c_uint64),
        ("cgroup", ctypes.c_uint64),
    ]


def clone3(flags: int, *, cgroup_fd: int = -1) -> tuple[int, int]:
    """clone3(2) with CLONE_PIDFD, and CLONE_INTO_CGROUP when ``cgroup_fd`` is given
    (a cgroup v2 directory fd: the child starts in it, no migration).

    Returns:
        (0, -1) in the child; (child pid, pidfd) in the parent.
    """
    pidfd = ctypes.c_int(-1)
    args = _CloneArgs()
    args.flags = flags | CLONE_PIDFD | (CLONE_INTO_CGROUP if cgroup_fd >= 0 else 0)
    args.pidfd = ctypes.addressof(pidfd)
    args.exit_signal = signal.SIGCHLD
    if cgroup_fd >= 0:
        args.cgroup = cgroup_fd
    pid = _check(
        _pysyscall(_SYS_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))),
        "clone3",
    )
    return (0, -1) if pid == 0 else (pid, pidfd.value)


# The calls below run in the clone child, once per step: they build their error message
# only when the call failed.


def unshare(flags: int) -> None:
    if _unshare(flags) < 0:
        raise error_from_errno(_get_errno(), f"unshare({flags:#x})")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace behind ``fd`` (an open ``/proc/PID/ns/*`` or bind-mounted file)."""
    if _setns(fd, nstype) < 0:
        raise error_from_errno(_get_errno(), f"setns({fd}, {nstype:#x})")


def pivot_root(new_root: str, put_old: str) -> None:
    if _syscall(_SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()) < 0:
        raise error_from_errno(_get_errno(), f"pivot_root({new_root!r}, {put_old!r})")


def sethostname(name: str) -> None:
    data = name.encode()
    if _sethostname(data, len(data)) < 0:
        raise error_from_errno(_get_errno(), f"sethostname({name!r})")


def setdomainname(name: str) -> None:
    data = name.encode()
    if _setdomainname(data, len(data)) < 0:
        raise error_from_errno(_get_errno(), f"setdomainname({name!r})")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    rc: int = _prctl(option, arg2, arg3, arg4, arg5)
    if rc < 0:
        raise error_from_errno(_get_errno(), f"prctl({option})")
    return rc


def prctl_each(option: int, args: tuple[int, ...]) -> None:
    """``prctl(option, arg)`` for each of ``args`` in turn (e.g. PR_CAPBSET_DROP of every
    capability to drop), stopping at the first failure, which names the argument."""
    call = _prctl
    for arg in args:
        if call(option, arg, 0, 0, 0) < 0:
            raise error_from_errno(_get_errno(), f"prctl({option}, {arg})")


def pidfd_open(pid: int) -> int:
    """A pidfd for ``pid``: readable (poll) once the process exits, any parent or not."""
    return _check(_syscall(_SYS_PIDFD_OPEN, pid, 0), f"pidfd_open({pid})")


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _check(_syscall(_SYS_PIDFD_SEND_SIGNAL, pidfd, sig, None, 0), f"pidfd_send_signal({sig})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) capability masks of ``pid`` (0: the caller)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    _check(_syscall(_SYS_CAPGET, ctypes.byref(header), data), "capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


class CapsetArgs:
    """The capset(2) arguments for three 64-bit masks, built once (in the parent) so the
    clone child only makes the call: :meth:`apply`."""

    __slots__ = ("_data", "_header")

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        self._header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        mask = 0xFFFFFFFF
        data[0].effective, data[1].effective = effective & mask, effective >> 32
        data[0].permitted, data[1].permitted = permitted & mask, permitted >> 32
        data[0].inheritable, data[1].inheritable = inheritable & mask, inheritable >> 32
        self._data = data

    def apply(self) -> None:
        """Set the caller's capability sets to these masks."""
        _check(_syscall(_SYS_CAPSET, ctypes.byref(self._header), self._data), "capset")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the caller's effective, permitted and inheritable capability masks (64-bit)."""
    CapsetArgs(effective, permitted, inheritable).apply()


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    """mount(2) with raw MS_* flags (empty strings pass NULL), for the clone child's set-up."""
    rc = _mount(
        source.encode() or None,
        target.encode(),
        fstype.encode() or None,
        flags,
        data.encode() or None,
    )
    if rc < 0:
        raise error_from_errno(_get_errno(), f"mount {fstype or 'bind'} {source!r} on {target!r}")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(path: str, *, set: int = 0, clear: int = 0, recursive: bool = False) -> None:
    """mount_setattr(2): set and clear MOUNT_ATTR_* flags of the mount at ``path`` (and, with
    ``recursive``, of every mount below it) in one call."""
    attr = _MountAttr(set, clear, 0, 0)
    flags = _AT_RECURSIVE if recursive else 0
    rc = _syscall(
        _SYS_MOUNT_SETATTR,
        _AT_FDCWD,
        path.encode(),
        flags,
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if rc < 0:
        raise error_from_errno(_get_errno(), f"mount_setattr {path!r}")


def umount2(target: str, flags: int) -> None:
    """umount2(2) with MNT_* flags."""
    if _umount2(target.encode(), flags) < 0:
        raise error_from_errno(_get_errno(), f"umount {target!r}")
