"""A child that loads a compiled filter: blocked calls fail, normal work goes on."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
from pathlib import Path

import pytest
from rtcg_helpers import BUSYBOX, exec_in_child, in_child, run_runc, runc_bundle

from wharf.errors import PermissionDenied
from wharf.runtime import syscalls
from wharf.runtime.capabilities import DOCKER_DEFAULT, CapabilitySets
from wharf.runtime.seccomp import compile_filter, default_profile, prepare_filter

__all__ = ["runc_bundle"]

_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# x86_64 numbers; every call is made with arguments that would do no harm if allowed.
_PROBES = {
    "unshare": (272, syscalls.CLONE_NEWUTS),
    "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0),
    "reboot": (169, 0, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0xDEAD0000),  # an unknown architecture: EINVAL
    "init_module": (175, 0, 0, 0),
    "clone3": (435, 0, 0),
    "setns": (308, -1, 0),
}


def _errno_of(args: tuple[int, ...]) -> int:
    ctypes.set_errno(0)
    rc = _libc.syscall(*(ctypes.c_long(a) for a in args))
    return 0 if rc >= 0 else ctypes.get_errno()


def _probe_all() -> str:
    results = {name: errno.errorcode.get(_errno_of(args), "OK") for name, args in _PROBES.items()}
    # Normal work: files, processes, pipes.
    with open("/proc/self/status", encoding="ascii") as f:
        assert f.read()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    results["fork"] = str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    return json.dumps(results)


@pytest.fixture(scope="module")
def docker_default_filter() -> bytes:
    return compile_filter(default_profile(DOCKER_DEFAULT))


def test_default_profile_blocks_privileged_calls(docker_default_filter: bytes) -> None:
    prepared = prepare_filter(docker_default_filter)

    def child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        return _probe_all()

    status, out = in_child(child)
    assert status == 0, out
    assert json.loads(out) == {
        "unshare": "EPERM",
        "mount": "EPERM",
        "umount2": "EPERM",
        "reboot": "EPERM",
        "kexec_load": "EPERM",
        "init_module": "EPERM",
        "clone3": "ENOSYS",  # so that libc falls back to clone(2), whose flags are checked
        "setns": "EPERM",
        "fork": "7",
    }


def test_without_a_filter_the_probes_reach_the_kernel() -> None:
    # The same probes unfiltered (as root): the kernel's own answers, never the filter's.
    status, out = in_child(_probe_all)
    assert status == 0, out
    results = json.loads(out)
    assert results["unshare"] == "OK"
    assert results["clone3"] != "ENOSYS"
    assert results["setns"] == "EBADF"


def test_cap_sys_admin_profile_allows_namespaces() -> None:
    bpf = compile_filter(default_profile(DOCKER_DEFAULT | {"CAP_SYS_ADMIN"}))
    prepared = prepare_filter(bpf)

    def child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        return _probe_all()

    status, out = in_child(child)
    assert status == 0, out
    results = json.loads(out)
    assert results["unshare"] == "OK"
    assert results["setns"] == "EBADF"
    assert results["reboot"] == "EPERM"  # still needs CAP_SYS_BOOT


def test_errno_ret_and_kill_actions() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EOPNOTSUPP},
            {"names": ["getpgid"], "action": "SCMP_ACT_KILL_PROCESS"},
        ],
    }
    prepared = prepare_filter(compile_filter(spec))

    def errno_child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        return str(_errno_of((110,)))  # getppid

    status, out = in_child(errno_child)
    assert (status, out) == (0, str(errno.EOPNOTSUPP))

    def kill_child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        os.getpgid(0)
        return "survived"

    status, out = in_child(kill_child)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGSYS
    assert out == ""


def test_args_conditions_filter_by_value() -> None:
    # Docker's personality rule: only the listed personas are allowed.
    prepared = prepare_filter(compile_filter(default_profile(DOCKER_DEFAULT)))

    def child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        query = _errno_of((135, 0xFFFFFFFF))  # personality(0xffffffff): read, allowed
        odd = _errno_of((135, 0x0040000))  # ADDR_COMPAT_LAYOUT: not in the list
        socket_ok = _errno_of((41, 1, 1, 0))  # socket(AF_UNIX, SOCK_STREAM)
        vsock = _errno_of((41, 40, 1, 0))  # socket(AF_VSOCK, ...): refused
        return f"{query} {odd} {socket_ok} {vsock}"

    status, out = in_child(child)
    assert status == 0, out
    assert out.split() == ["0", str(errno.EPERM), "0", str(errno.EPERM)]


def test_loading_needs_no_new_privs_or_cap_sys_admin() -> None:
    prepared = prepare_filter(compile_filter({"defaultAction": "SCMP_ACT_ALLOW"}))
    no_admin = CapabilitySets.docker_default().prepare()

    def child() -> str:
        no_admin.apply()
        try:
            prepared.load()
        except PermissionDenied as exc:
            return f"denied: {exc}"
        return "loaded"

    status, out = in_child(child)
    assert status == 0, out
    assert out.startswith("denied: seccomp(SECCOMP_SET_MODE_FILTER)")


# busybox commands that are harmless on the host even if a filter failed to block them.
_COMMANDS = [
    ["true"],
    ["unshare", "-u", "/bin/busybox", "true"],
    ["chroot", "/", "/bin/busybox", "true"],
    ["linux32", "/bin/busybox", "true"],
    ["ionice", "-c", "3", "/bin/busybox", "true"],
    ["umount", "/rtcg-no-such-mount"],
]


def test_default_profile_behaves_like_runc_with_the_same_profile(runc_bundle: Path) -> None:
    caps = CapabilitySets.docker_default()
    profile = default_profile(DOCKER_DEFAULT)
    prepared_caps = caps.prepare()
    prepared_filter = prepare_filter(compile_filter(profile))

    def prepare() -> None:
        prepared_caps.apply()
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared_filter.load()

    spec_caps = {s: sorted(getattr(caps, s)) for s in ("bounding", "effective", "permitted")}
    for command in _COMMANDS:
        code, _, err = exec_in_child(prepare, [BUSYBOX, *command])
        runc_code, _, runc_err, _ = run_runc(
            runc_bundle,
            ["/bin/busybox", *command],
            process={"capabilities": spec_caps, "noNewPrivileges": True},
            linux={"seccomp": profile},
        )
        assert (code, err) == (runc_code, runc_err), command
    # And the outcomes are the expected ones: only unshare and umount are refused.
    results = [exec_in_child(prepare, [BUSYBOX, *c])[0] for c in _COMMANDS]
    assert results == [0, 1, 0, 0, 0, 1]
    unshare_err = exec_in_child(prepare, [BUSYBOX, *_COMMANDS[1]])[2]
    assert "Operation not permitted" in unshare_err


def test_syscalls_newer_than_the_profile_get_enosys(docker_default_filter: bytes) -> None:
    # fchmodat2 (452, Linux 6.6) is newer than anything Docker's profile names: glibc
    # falls back to fchmodat on ENOSYS but would fail on EPERM.
    fchmodat2 = (452, -100, 0, 0o644, 0)  # AT_FDCWD, NULL path: EFAULT if it ran
    prepared = prepare_filter(docker_default_filter)

    def child() -> str:
        syscalls.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prepared.load()
        return errno.errorcode[_errno_of(fchmodat2)]

    status, out = in_child(child)
    assert (status, out) == (0, "ENOSYS")
    status, out = in_child(lambda: errno.errorcode[_errno_of(fchmodat2)])
    assert (status, out) == (0, "EFAULT")
