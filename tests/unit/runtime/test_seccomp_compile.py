"""Compiling linux.seccomp with libseccomp (no root needed) and Docker's default profile."""

from __future__ import annotations

import errno
import struct
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.errors import InvalidArgument, Unimplemented
from wharf.runtime.capabilities import DOCKER_DEFAULT
from wharf.runtime.init import START_EXEC_SYSCALLS
from wharf.runtime.seccomp import allows_always, compile_filter, default_profile, prepare_filter

_RET = 0x06  # BPF_RET | BPF_K


def _returns(bpf: bytes) -> set[int]:
    """The constant return values of a classic-BPF program (its possible actions)."""
    out = set()
    for i in range(0, len(bpf), 8):
        code, _jt, _jf, k = struct.unpack("<HBBI", bpf[i : i + 8])
        if code == _RET:
            out.add(k)
    return out


def test_compile_produces_bpf_with_the_actions() -> None:
    bpf = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["umount2"], "action": "SCMP_ACT_ERRNO"},
            ],
        }
    )
    assert len(bpf) % 8 == 0
    rets = _returns(bpf)
    assert 0x7FFF0000 in rets  # allow
    assert 0x00050000 | 95 in rets  # errno 95
    assert 0x00050000 | 1 in rets  # default errno: EPERM
    assert 0x80000000 in rets  # kill process


def test_unknown_syscall_names_are_skipped() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_call", "getpid"], "action": "SCMP_ACT_ERRNO"}],
    }
    assert 0x00050001 in _returns(compile_filter(spec))
    only_unknown = {**spec, "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_LOG"}]}
    assert 0x7FFC0000 not in _returns(compile_filter(only_unknown))


def test_rule_equal_to_default_is_skipped() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}],
    }
    assert _returns(compile_filter(spec)) >= {0x00050001}


def test_conditions_same_index_are_ored_and_compile() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                ],
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
                ],
            },
        ],
    }
    assert len(compile_filter(spec)) > 0


def test_default_profile_depends_on_capabilities() -> None:
    plain = default_profile(DOCKER_DEFAULT, machine="x86_64")
    admin = default_profile(DOCKER_DEFAULT | {"CAP_SYS_ADMIN"}, machine="x86_64")
    names = {n for r in plain["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    admin_names = {
        n for r in admin["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]
    }
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO"
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert {"read", "write", "execve", "arch_prctl", "chroot"} <= names
    for blocked in ("mount", "unshare", "setns", "reboot", "kexec_load", "init_module"):
        assert blocked not in names
    assert {"mount", "unshare", "setns"} <= admin_names
    clone3 = [r for r in plain["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert not [r for r in admin["syscalls"] if r["names"] == ["clone3"]]
    arm = default_profile(DOCKER_DEFAULT, machine="aarch64")
    arm_names = {n for r in arm["syscalls"] for n in r["names"]}
    assert "arch_prctl" not in arm_names
    assert "set_tls" in arm_names
    assert len(compile_filter(plain)) > 0


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "linux.seccomp.defaultAction"),
        ({"defaultAction": "ALLOW"}, "linux.seccomp.defaultAction"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultErrnoRet"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}, "defaultErrnoRet"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}, "architectures[0]"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
            "architectures[0]",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}, "flags[0]"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}, "linux.seccomp.syscalls"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}],
            },
            "syscalls[0].names",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "X"}]},
            "syscalls[0].action",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_LOG"},
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_LOG",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}],
                    },
                ],
            },
            "syscalls[1].args[0].op",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_LOG",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "syscalls[0].args[0].index",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_LOG",
                        "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "syscalls[0].args[0].value",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}, "unknown field 'bogus'"),
    ],
)
def test_bad_input_names_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        compile_filter(spec)
    assert field in str(exc.value)
    assert str(exc.value).startswith("linux.seccomp")


def test_notify_is_unimplemented() -> None:
    with pytest.raises(Unimplemented):
        compile_filter({"defaultAction": "SCMP_ACT_NOTIFY"})
    with pytest.raises(Unimplemented):
        compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"})
    with pytest.raises(Unimplemented, match=r"flags\[0\]"):
        compile_filter(
            {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}
        )


def test_prepare_rejects_non_programs() -> None:
    with pytest.raises(InvalidArgument, match="seccomp filter"):
        prepare_filter(b"")
    with pytest.raises(InvalidArgument, match="seccomp filter"):
        prepare_filter(b"1234567")
    with pytest.raises(InvalidArgument, match=r"flags\[0\]"):
        prepare_filter(b"\0" * 8, flags=["BOGUS"])
    p = prepare_filter(b"\x06\0\0\0\0\0\xff\x7f", flags=["SECCOMP_FILTER_FLAG_LOG"])
    assert p.flags == 2


_KEYS = st.sampled_from(
    [
        "defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls", "names",
        "action", "errnoRet", "args", "index", "value", "valueTwo", "op",
    ]
)  # fmt: skip
_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_CMP_EQ", "read", "SCMP_ARCH_X86"])
    | st.text(max_size=6)
)
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=16,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=5))
def test_any_json_compiles_or_is_refused_with_a_kind(spec: dict[str, Any]) -> None:
    try:
        bpf = compile_filter(spec)
    except (InvalidArgument, Unimplemented) as exc:
        assert str(exc).startswith("linux.seccomp")
    else:
        assert len(bpf) % 8 == 0


def test_compile_is_cached_and_accepts_any_mapping() -> None:
    profile = default_profile(DOCKER_DEFAULT, machine="x86_64")
    first = compile_filter(profile)
    assert compile_filter(MappingProxyType(dict(profile))) == first
    with pytest.raises(InvalidArgument, match="not a JSON object"):
        compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [object()]})


AUDIT_X86_64, AUDIT_I386, AUDIT_AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7
ALLOW, KILL_THREAD = 0x7FFF0000, 0


def errno_ret(err: int) -> int:
    return 0x00050000 | err


def run_filter(bpf: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_X86_64) -> int:
    """Run a classic-BPF seccomp program on one syscall (the opcodes libseccomp and the
    ENOSYS stub emit); returns the action."""
    words = [0] * 16
    words[0], words[1] = nr, arch
    for i, a in enumerate(args):
        words[4 + 2 * i], words[5 + 2 * i] = a & 0xFFFFFFFF, a >> 32
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = struct.unpack("<HBBI", bpf[pc * 8 : pc * 8 + 8])
        pc += 1
        if code == 0x20:  # ld [k]
            acc = words[k // 4]
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x05:  # ja k
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset #k
            hit = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if hit else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not interpreted")


def test_docker_profile_decisions() -> None:
    bpf = compile_filter(default_profile(DOCKER_DEFAULT, machine="x86_64"))
    eperm = errno_ret(errno.EPERM)
    assert run_filter(bpf, 0) == ALLOW  # read
    assert run_filter(bpf, 272, (0x20000,)) == eperm  # unshare(CLONE_NEWNS)
    assert run_filter(bpf, 56, (0x01200011,)) == ALLOW  # clone as fork() does
    assert run_filter(bpf, 56, (0x20000 | 0x11,)) == eperm  # clone(CLONE_NEWNS)
    assert run_filter(bpf, 435) == errno_ret(errno.ENOSYS)  # clone3: libc falls back
    assert run_filter(bpf, 135, (8,)) == ALLOW  # personality(PER_LINUX32)
    assert run_filter(bpf, 135, (0x0040000,)) == eperm
    assert run_filter(bpf, 41, (2, 1, 0)) == ALLOW  # socket(AF_INET)
    assert run_filter(bpf, 41, (40, 1, 0)) == eperm  # socket(AF_VSOCK)
    assert run_filter(bpf, 169) == eperm  # reboot
    # Newer than anything the profile names: ENOSYS, so libc can fall back (fchmodat2).
    assert run_filter(bpf, 452) == errno_ret(errno.ENOSYS)
    # 32-bit and x32 callers are filtered by their own tables.
    assert run_filter(bpf, 102, arch=AUDIT_I386) == ALLOW  # socketcall
    assert run_filter(bpf, 452, arch=AUDIT_I386) == errno_ret(errno.ENOSYS)
    assert run_filter(bpf, 0x40000000, arch=AUDIT_X86_64) == ALLOW  # x32 read
    assert run_filter(bpf, 0x40000000 + 1000) == errno_ret(errno.ENOSYS)
    # An architecture the profile does not list is killed (libseccomp's bad-arch action).
    assert run_filter(bpf, 63, arch=AUDIT_AARCH64) == KILL_THREAD


def test_no_enosys_stub_when_the_default_allows() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}],
    }
    bpf = compile_filter(spec)
    assert run_filter(bpf, 452) == ALLOW
    assert run_filter(bpf, 165) == errno_ret(errno.EPERM)
    kill = {**spec, "defaultAction": "SCMP_ACT_KILL_PROCESS"}
    kill["syscalls"] = [{"names": ["read", "getpid"], "action": "SCMP_ACT_ALLOW"}]
    bpf = compile_filter(kill)
    assert run_filter(bpf, 39) == ALLOW  # getpid, the largest named
    assert run_filter(bpf, 40) == errno_ret(errno.ENOSYS)
    assert run_filter(bpf, 1) == 0x80000000  # write: kill process


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"defaultAction": "SCMP_ACT_ALLOW"}, True),
        ({"defaultAction": "SCMP_ACT_LOG"}, True),
        ({"defaultAction": "SCMP_ACT_ERRNO"}, False),
        (
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["read", "close"], "action": "SCMP_ACT_ALLOW"}],
            },
            True,
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["close"], "action": "SCMP_ACT_KILL"}],
            },
            False,
        ),
        (  # allowed for some arguments only
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": ["read", "close"], "action": "SCMP_ACT_ALLOW"},
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
                    },
                ],
            },
            False,
        ),
    ],
    ids=["allow", "log", "errno", "listed", "killed", "conditional"],
)
def test_allows_always_is_true_only_for_unconditional_allows(
    spec: dict[str, Any], allowed: bool
) -> None:
    assert allows_always(spec, ["read", "close"]) is allowed


def test_docker_default_profile_lets_wharf_start_exec_through() -> None:
    assert allows_always(default_profile(DOCKER_DEFAULT), START_EXEC_SYSCALLS)
