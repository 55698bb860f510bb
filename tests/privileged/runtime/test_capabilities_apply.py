"""Capability sets applied in a child, observed the way a user would: /proc/self/status of
an exec'd program, compared with runc running the same sets, and denied operations."""

from __future__ import annotations

import ctypes
import errno
import json
import socket
from pathlib import Path
from typing import Any

from rtcg_helpers import BUSYBOX, exec_in_child, in_child, run_runc, runc_bundle

from wharf.runtime import syscalls
from wharf.runtime.capabilities import DOCKER_DEFAULT, CapabilitySets

__all__ = ["runc_bundle"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


_GREP = [BUSYBOX, "grep", "-E", "^(Cap|Uid)", "/proc/self/status"]


def _status_after_exec(sets: CapabilitySets, *, uid: int = 0, gid: int = 0) -> dict[str, str]:
    """Apply ``sets`` in a forked child, exec busybox and return its Cap*/Uid lines."""
    prepared = sets.prepare()
    code, out, err = exec_in_child(lambda: prepared.apply(uid=uid, gid=gid), _GREP)
    assert code == 0, err
    return _parse_status(out)


def _parse_status(text: str) -> dict[str, str]:
    return {k.strip(): v.split()[0] for k, v in (line.split(":", 1) for line in text.splitlines())}


def _runc_status(bundle: Path, edit: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Run busybox under runc with the spec's process edited; its Cap*/Uid lines."""
    code, out, err, config = run_runc(bundle, ["/bin/busybox", *_GREP[1:]], process=edit)
    assert code == 0, err
    return _parse_status(out), config["process"]


def test_runc_spec_default_sets_match_runc(runc_bundle: Path) -> None:
    theirs, process = _runc_status(runc_bundle, {})
    ours = _status_after_exec(CapabilitySets.from_spec(process["capabilities"]))
    assert theirs["CapEff"] == "0000000020000420"
    assert ours == theirs


def test_docker_default_for_a_non_root_user_with_ambient_matches_runc(runc_bundle: Path) -> None:
    caps = sorted(DOCKER_DEFAULT)
    spec = {
        "bounding": caps,
        "effective": caps,
        "permitted": caps,
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    theirs, _ = _runc_status(
        runc_bundle, {"capabilities": spec, "user": {"uid": 65534, "gid": 65534}}
    )
    ours = _status_after_exec(CapabilitySets.from_spec(spec), uid=65534, gid=65534)
    # After exec a non-root user keeps only the ambient set, in permitted and effective.
    assert ours["CapAmb"] == ours["CapEff"] == ours["CapPrm"] == "0000000000000400"
    assert ours["CapBnd"] == "00000000a80425fb"
    assert ours["Uid"] == "65534"
    assert ours == theirs


def test_docker_default_as_root() -> None:
    ours = _status_after_exec(CapabilitySets.docker_default())
    assert ours["CapBnd"] == ours["CapEff"] == ours["CapPrm"] == "00000000a80425fb"
    assert ours["CapInh"] == ours["CapAmb"] == "0000000000000000"


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("rest", ctypes.c_long * 8),
        ("pad", ctypes.c_int * 12),
    ]


_ADJ_TICK = 0x4000


def _denied_operations() -> str:
    results = {}
    # Clock: re-set the current tick length (a no-op if it were allowed).
    tx = _Timex()
    assert _libc.adjtimex(ctypes.byref(tx)) >= 0
    tx.modes = _ADJ_TICK
    ctypes.set_errno(0)
    results["adjtimex"] = ctypes.get_errno() if _libc.adjtimex(ctypes.byref(tx)) < 0 else 0
    # Reboot: bad magic numbers (EINVAL if the capability were there). This kernel has no
    # module support (init_module is ENOSYS), so CAP_SYS_MODULE shows only in CapBnd.
    ctypes.set_errno(0)
    rc = _libc.syscall(ctypes.c_long(169), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
    results["reboot"] = ctypes.get_errno() if rc < 0 else 0
    # Hostname: set it to what it is (a no-op if it were allowed).
    try:
        socket.sethostname(socket.gethostname())
        results["sethostname"] = 0
    except PermissionError as exc:
        results["sethostname"] = exc.errno or -1
    # Raw sockets: in Docker's default set (ping works).
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        results["raw_socket"] = 0
    except PermissionError as exc:
        results["raw_socket"] = exc.errno or -1
    return json.dumps(results)


def test_docker_default_cannot_set_the_clock_or_reboot() -> None:
    prepared = CapabilitySets.docker_default().prepare()

    def child() -> str:
        prepared.apply()
        return _denied_operations()

    status, out = in_child(child)
    assert status == 0, out
    assert json.loads(out) == {
        "adjtimex": errno.EPERM,
        "reboot": errno.EPERM,
        "sethostname": errno.EPERM,
        "raw_socket": 0,
    }
    dropped = CapabilitySets.docker_default(drop=["CAP_NET_RAW"]).prepare()

    def child_without_net_raw() -> str:
        dropped.apply()
        return _denied_operations()

    status, out = in_child(child_without_net_raw)
    assert status == 0, out
    assert json.loads(out)["raw_socket"] == errno.EPERM


def test_as_root_without_dropping_the_kernel_answers() -> None:
    # The same probes with root's full set (nothing applied): not EPERM.
    status, out = in_child(_denied_operations)
    assert status == 0, out
    results = json.loads(out)
    assert results["reboot"] == errno.EINVAL
    assert results["sethostname"] == 0
    assert results["raw_socket"] == 0


def test_apply_in_a_user_namespace_with_setgroups_denied() -> None:
    prepared = CapabilitySets.docker_default().prepare()

    def child() -> str:
        syscalls.unshare(syscalls.CLONE_NEWUSER)
        for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as f:
                f.write(text)
        prepared.apply()
        with open("/proc/self/status", encoding="ascii") as f:
            return f.read()

    status, out = in_child(child)
    assert status == 0, out
    caps = {k: v.strip() for k, v in (line.split(":", 1) for line in out.splitlines())}
    assert caps["CapEff"] == caps["CapBnd"] == "00000000a80425fb"
