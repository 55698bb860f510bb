"""v1 device-rule semantics and the eBPF program that reproduces them on cgroup v2.

The program is run here by a tiny interpreter of the instructions it uses, and compared
with a direct check of the emulated rules for many requests."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.runtime.cgroups import DEFAULT_DEVICE_RULES, DeviceRule, Resources
from wharf.runtime.cgroups.devices import DeviceException, compile_program, emulate

_ACCESS = {"m": 1, "r": 2, "w": 4}


def run(program: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Interpret the cgroup/dev program for one request; returns r0 (1 = allowed)."""
    ctx = [sum(_ACCESS[a] for a in access) << 16 | {"b": 1, "c": 2}[kind], major, minor]
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", program[i : i + 8]) for i in range(0, len(program), 8)]
    while True:
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == 0x61:
            assert src == 1
            regs[dst] = ctx[off // 4]
        elif code == 0x54:
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == 0xB7:
            regs[dst] = imm
        elif code == 0x55:
            pc += off if regs[dst] != imm else 0
        elif code == 0x15:
            pc += off if regs[dst] == imm else 0
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def reference(rules: list[DeviceRule], kind: str, major: int, minor: int, access: str) -> int:
    """The kernel's v1 check (devcgroup_legacy_check_permission), written plainly."""
    default_allow, exceptions = emulate(rules)
    for ex in exceptions:
        if ex.type != kind or ex.major not in (None, major) or ex.minor not in (None, minor):
            continue
        if default_allow and set(access) & ex.access:
            return 0
        if not default_allow and set(access) <= ex.access:
            return 1
    return int(default_allow)


def test_emulate_default_container_rules() -> None:
    allow, exceptions = emulate(Resources().device_rules())
    assert allow is False
    assert DeviceException("c", 1, 3, frozenset("rwm")) in exceptions
    assert DeviceException("c", None, None, frozenset("m")) in exceptions
    assert len(exceptions) == len(DEFAULT_DEVICE_RULES)


def test_emulate_deny_takes_access_away_and_a_resets() -> None:
    rules = [
        DeviceRule(False),
        DeviceRule(True, "c", 1, 3, "rwm"),
        DeviceRule(False, "c", 1, 3, "w"),
        DeviceRule(True, "b", 8, 0, "r"),
        DeviceRule(False, "b", 8, 0, "r"),
    ]
    assert emulate(rules) == (False, (DeviceException("c", 1, 3, frozenset("rm")),))
    assert emulate([*rules, DeviceRule(True)]) == (True, ())
    assert emulate([DeviceRule(True), DeviceRule(False, "b", None, None, "rw")]) == (
        True,
        (DeviceException("b", None, None, frozenset("rw")),),
    )


def test_program_for_the_default_rules() -> None:
    prog = compile_program(Resources().device_rules())
    assert run(prog, "c", 1, 3, "rw") == 1  # /dev/null
    assert run(prog, "c", 136, 4, "rw") == 1  # a pty
    assert run(prog, "c", 1, 11, "w") == 0  # /dev/kmsg
    assert run(prog, "b", 254, 0, "r") == 0  # the disk
    assert run(prog, "b", 254, 0, "m") == 1  # mknod of anything is allowed
    assert run(prog, "c", 10, 200, "rwm") == 0


_RULES = st.lists(
    st.builds(
        DeviceRule,
        allow=st.booleans(),
        type=st.sampled_from(["a", "b", "c"]),
        major=st.none() | st.integers(0, 3),
        minor=st.none() | st.integers(0, 3),
        access=st.sampled_from(["m", "r", "w", "rw", "rm", "rwm", "wm"]),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    _RULES,
    st.sampled_from(["b", "c"]),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from(["m", "r", "w", "rw", "rwm"]),
)
def test_program_agrees_with_v1_semantics(
    rules: list[DeviceRule], kind: str, major: int, minor: int, access: str
) -> None:
    expected = reference(rules, kind, major, minor, access)
    assert run(compile_program(rules), kind, major, minor, access) == expected
