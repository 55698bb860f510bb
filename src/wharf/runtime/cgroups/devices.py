"""Device access on cgroup v2: the v1 rule list emulated and compiled to an eBPF program.

cgroup v2 has no ``devices.allow``/``devices.deny``: access is decided by a
``BPF_PROG_TYPE_CGROUP_DEVICE`` program attached to the cgroup. Like runc, Wharf first
replays the rules with v1's semantics (:func:`emulate`) and then emits a small program
(:func:`compile_program`): check the request against each exception; the first match
decides, otherwise the default does. The program is loaded with ``bpf(BPF_PROG_LOAD)`` and
attached with ``BPF_PROG_ATTACH`` (``BPF_F_ALLOW_MULTI``) to the cgroup's directory fd
(:func:`attach_program`). It stays attached until the cgroup is removed.

v1 semantics replayed: an ``a`` rule resets (deny: nothing allowed; allow: everything).
With default deny, an allow rule adds access to the exception with the same
type/major/minor and a deny rule takes access away from it; with default allow, the
reverse. A request is allowed by a whitelist exception when all its access bits are in
it, and refused by a blacklist exception when any of them is.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from wharf.runtime.cgroups.resources import DeviceRule
from wharf.runtime.syscalls import error_from_errno

__all__ = ["DeviceException", "attach_program", "compile_program", "emulate"]

# Request encoding in struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}:
# access_type = access << 16 | type.
_TYPE: Final = {"b": 1, "c": 2}
_ACCESS: Final = {"m": 1, "r": 2, "w": 4}

# eBPF opcodes used.
_LDX_W: Final = 0x61  # r_dst = *(u32 *)(r_src + off)
_AND32_K: Final = 0x54
_RSH32_K: Final = 0x74
_MOV32_X: Final = 0xBC
_MOV64_K: Final = 0xB7
_JNE_K: Final = 0x55
_JEQ_K: Final = 0x15
_EXIT: Final = 0x95

_SYS_BPF: Final = 321  # x86_64
_BPF_PROG_LOAD: Final = 5
_BPF_PROG_ATTACH: Final = 8
_BPF_PROG_TYPE_CGROUP_DEVICE: Final = 15
_BPF_CGROUP_DEVICE: Final = 6
_BPF_F_ALLOW_MULTI: Final = 2

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class DeviceException:
    """One exception to the default: a device class and the access bits it concerns."""

    type: str
    major: int | None
    minor: int | None
    access: frozenset[str]


def emulate(rules: Iterable[DeviceRule]) -> tuple[bool, tuple[DeviceException, ...]]:
    """Replay ``rules`` with v1's semantics.

    Returns:
        (default allowed?, the exceptions to that default, in insertion order).
    """
    default_allow = True
    exceptions: dict[tuple[str, int | None, int | None], set[str]] = {}
    for rule in rules:
        if rule.type == "a":
            default_allow = rule.allow
            exceptions.clear()
            continue
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != default_allow:
            exceptions.setdefault(key, set()).update(rule.access)
        elif key in exceptions:
            exceptions[key] -= set(rule.access)
            if not exceptions[key]:
                del exceptions[key]
    return default_allow, tuple(
        DeviceException(t, ma, mi, frozenset(acc)) for (t, ma, mi), acc in exceptions.items()
    )


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, src << 4 | dst, off, imm)


def compile_program(rules: Iterable[DeviceRule]) -> bytes:
    """An eBPF ``cgroup/dev`` program (8-byte instructions) deciding like v1 would.

    Registers: r2 = type, r3 = access, r4 = major, r5 = minor, r6 = scratch.
    """
    default_allow, exceptions = emulate(rules)
    prog = [
        _insn(_LDX_W, 2, 1, 0),
        _insn(_AND32_K, 2, imm=0xFFFF),
        _insn(_LDX_W, 3, 1, 0),
        _insn(_RSH32_K, 3, imm=16),
        _insn(_LDX_W, 4, 1, 4),
        _insn(_LDX_W, 5, 1, 8),
    ]
    for ex in exceptions:
        access = sum(_ACCESS[a] for a in ex.access)
        jumps = [(_JNE_K, 2, _TYPE[ex.type])]
        if ex.major is not None:
            jumps.append((_JNE_K, 4, ex.major))
        if ex.minor is not None:
            jumps.append((_JNE_K, 5, ex.minor))
        if default_allow:
            # Blacklist: the exception concerns the request if any access bit overlaps.
            mask, last = access, (_JEQ_K, 6, 0)
        else:
            # Whitelist: every requested access bit must be in the exception.
            mask, last = ~access & 7, (_JNE_K, 6, 0)
        jumps.append(last)
        # Block: r6 = r3 & mask, the jumps, r0 = verdict, exit. A failed check jumps to
        # the next block, just past this one's exit.
        block_len = 2 + len(jumps) + 2
        prog += [_insn(_MOV32_X, 6, 3), _insn(_AND32_K, 6, imm=mask)]
        for i, (code, reg, imm) in enumerate(jumps):
            prog.append(_insn(code, reg, off=block_len - (2 + i) - 1, imm=imm))
        prog += [_insn(_MOV64_K, 0, imm=0 if default_allow else 1), _insn(_EXIT)]
    prog += [_insn(_MOV64_K, 0, imm=1 if default_allow else 0), _insn(_EXIT)]
    return b"".join(prog)


def attach_program(cgroup_fd: int, program: bytes) -> None:
    """Load ``program`` and attach it to the cgroup v2 directory ``cgroup_fd``.

    Raises:
        PermissionDenied: no CAP_SYS_ADMIN (or CAP_BPF) for bpf(2).
        InvalidArgument: the verifier refused the program.
    """
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "<IIQQ",
        attr,
        0,
        _BPF_PROG_TYPE_CGROUP_DEVICE,
        len(program) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
    )
    prog_fd = _syscall(_SYS_BPF, _BPF_PROG_LOAD, attr, ctypes.c_uint(128))
    if prog_fd < 0:
        raise error_from_errno(ctypes.get_errno(), "linux.resources.devices: bpf(BPF_PROG_LOAD)")
    try:
        attach = ctypes.create_string_buffer(128)
        struct.pack_into(
            "<IIII", attach, 0, cgroup_fd, prog_fd, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI
        )
        if _syscall(_SYS_BPF, _BPF_PROG_ATTACH, attach, ctypes.c_uint(128)) < 0:
            raise error_from_errno(
                ctypes.get_errno(), "linux.resources.devices: bpf(BPF_PROG_ATTACH)"
            )
    finally:
        os.close(prog_fd)
