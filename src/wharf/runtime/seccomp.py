"""Seccomp: ``linux.seccomp`` compiled to a BPF program, and loading it in the child.

Compilation happens in the parent with libseccomp (through ctypes; Debian's
``libseccomp2``), the way runc does it: ``seccomp_init(defaultAction)``, the spec's
architectures added, one ``seccomp_rule_add_array`` per syscall name, then
``seccomp_export_bpf`` into a memfd. The result is plain bytes (``struct sock_filter[]``)
that the engine can cache per profile.

Loading happens in the cloned child, which must not import or dlsym:
``prepare_filter(bpf)`` builds the ``struct sock_fprog`` and the call arguments in the
parent; ``PreparedFilter.load()`` is then a single pre-resolved ``seccomp(2)`` call. The
kernel accepts a filter only from a task with no_new_privs set or with CAP_SYS_ADMIN, so
the child either sets PR_SET_NO_NEW_PRIVS first or loads while still privileged.

Rules follow runc: a syscall name libseccomp cannot resolve (unknown to this
architecture or to libseccomp) is skipped; a rule whose action equals the default action
is skipped; conditions on the same argument index are OR-ed (one rule each), conditions on
different indexes AND-ed; unless the default action allows, a prefix returns ENOSYS for
syscall numbers above the largest one the profile names on each listed architecture, so
a libc probing a newer syscall falls back instead of failing with EPERM. The filter is
emitted as a binary search tree (loads in a third of the time of the linear form).
``default_profile(caps)`` is Docker's default profile as an OCI object, from
``seccomp_default.json``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final

from wharf.errors import FailedPrecondition, InvalidArgument, Unimplemented
from wharf.runtime.syscalls import error_from_errno

__all__ = [
    "ACTIONS",
    "PreparedFilter",
    "allows_always",
    "compile_filter",
    "default_profile",
    "load_filter",
    "prepare_filter",
]

_F: Final = "linux.seccomp"

_ACT_KILL_THREAD: Final = 0x00000000
_ACT_KILL_PROCESS: Final = 0x80000000
_ACT_TRAP: Final = 0x00030000
_ACT_ERRNO: Final = 0x00050000
_ACT_TRACE: Final = 0x7FF00000
_ACT_LOG: Final = 0x7FFC0000
_ACT_ALLOW: Final = 0x7FFF0000

ACTIONS: Final[frozenset[str]] = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)
_OPS: Final[dict[str, int]] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_FLAGS: Final[dict[str, int]] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}
_NR_SCMP_ERROR: Final = -1
_X32_SYSCALL_BIT: Final = 0x40000000
_AUDIT_ARCH_X86_64: Final = 0xC000003E
_SCMP_ARCH_X32: Final = 0x4000003E  # libseccomp's token; x32 tasks report AUDIT_ARCH_X86_64
# Classic BPF opcodes of the -ENOSYS stub.
_BPF_LD_W_ABS: Final = 0x20
_BPF_JA: Final = 0x05
_BPF_JEQ_K: Final = 0x15
_BPF_JGT_K: Final = 0x25
_BPF_JSET_K: Final = 0x45
_BPF_RET_K: Final = 0x06
_ATTR_OPTIMIZE: Final = 8  # SCMP_FLTATR_CTL_OPTIMIZE (libseccomp >= 2.5)
_OPTIMIZE_BINARY_TREE: Final = 2
_SYS_SECCOMP: Final = 317  # x86_64
_SECCOMP_SET_MODE_FILTER: Final = 1
_SOCK_FILTER_SIZE: Final = 8

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_get_errno = ctypes.get_errno


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@cache
def _libseccomp() -> ctypes.CDLL:
    # A fixed soname, not ctypes.util.find_library: that runs ldconfig (several ms) per call.
    name = "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise FailedPrecondition(
            f"seccomp: cannot load {name} ({exc}); install Debian's libseccomp2"
        ) from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    return lib


@dataclass(frozen=True)
class _Cond:
    index: int
    op: int
    value: int
    value_two: int


def _action(obj: Mapping[str, Any], key: str, errno_key: str, field: str) -> int:
    name = obj.get(key)
    if not isinstance(name, str) or name not in ACTIONS:
        raise InvalidArgument(
            f"{field}.{key}: must be one of {', '.join(sorted(ACTIONS))}, got {name!r}"
        )
    if name == "SCMP_ACT_NOTIFY":
        raise Unimplemented(f"{field}.{key}: SCMP_ACT_NOTIFY (seccomp user notification)")
    ret = obj.get(errno_key)
    if ret is not None and (
        isinstance(ret, bool) or not isinstance(ret, int) or not 0 <= ret <= 0xFFFF
    ):
        raise InvalidArgument(
            f"{field}.{errno_key}: must be an errno number in [0, 65535], got {ret!r}"
        )
    code = errno.EPERM if ret is None else ret
    return {
        "SCMP_ACT_KILL": _ACT_KILL_THREAD,
        "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS,
        "SCMP_ACT_TRAP": _ACT_TRAP,
        "SCMP_ACT_ERRNO": _ACT_ERRNO | code,
        "SCMP_ACT_TRACE": _ACT_TRACE | code,
        "SCMP_ACT_LOG": _ACT_LOG,
        "SCMP_ACT_ALLOW": _ACT_ALLOW,
    }[name]


def _uint(obj: Mapping[str, Any], key: str, field: str, bits: int, *, default: int | None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidArgument(f"{field}.{key}: must be an integer in [0, 2^{bits}), got {value!r}")
    return value


def _conditions(rule: Mapping[str, Any], field: str) -> list[_Cond]:
    args = rule.get("args") or []
    if not isinstance(args, list):
        raise InvalidArgument(f"{field}.args: must be an array")
    out = []
    for i, a in enumerate(args):
        af = f"{field}.args[{i}]"
        if not isinstance(a, Mapping):
            raise InvalidArgument(f"{af}: must be an object")
        op = a.get("op")
        if not isinstance(op, str) or op not in _OPS:
            raise InvalidArgument(f"{af}.op: must be one of {', '.join(sorted(_OPS))}, got {op!r}")
        index = _uint(a, "index", af, 32, default=None)
        if index > 5:
            raise InvalidArgument(f"{af}.index: a syscall has arguments 0..5, got {index}")
        out.append(
            _Cond(
                index,
                _OPS[op],
                _uint(a, "value", af, 64, default=None),
                _uint(a, "valueTwo", af, 64, default=0),
            )
        )
    return out


def _condition_groups(conds: Sequence[_Cond]) -> list[list[_Cond]]:
    """runc's rule: one rule with every condition, unless an index repeats (then OR)."""
    if len({c.index for c in conds}) == len(conds):
        return [list(conds)]
    return [[c] for c in conds]


def compile_filter(spec: Mapping[str, Any], *, field: str = _F) -> bytes:
    """Compile an OCI ``linux.seccomp`` object to a classic-BPF program.

    Compiling Docker's default profile takes ~20 ms, so results are cached by the
    profile's canonical JSON (the same profile for every container costs ~0.2 ms).

    Returns:
        the ``struct sock_filter`` array (8 bytes per instruction) for this machine.

    Raises:
        InvalidArgument: a bad action, operator, architecture, flag or argument; the
            message names the field (``linux.seccomp.syscalls[3].args[0].op``).
        Unimplemented: SCMP_ACT_NOTIFY / listenerPath.
        FailedPrecondition: libseccomp is not installed.
    """
    if not isinstance(spec, Mapping):
        raise InvalidArgument(f"{field}: must be an object, got {type(spec).__name__}")
    try:
        key = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{field}: not a JSON object ({exc})") from exc
    return _compile_cached(key, field)


def allows_always(spec: Mapping[str, Any], names: Iterable[str]) -> bool:
    """Whether the filter compiled from ``spec`` (a valid one) allows each syscall in
    ``names`` whatever its arguments. Conservative: a name in a rule with conditions or
    with an action other than allow/log counts as not allowed.
    """
    allowing = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
    always: set[str] = set()
    sometimes: set[str] = set()
    for rule in spec.get("syscalls") or ():
        unconditional = rule.get("action") in allowing and not rule.get("args")
        (always if unconditional else sometimes).update(rule.get("names") or ())
    by_default = spec.get("defaultAction") in allowing
    return all((by_default or name in always) and name not in sometimes for name in names)


def _plain(obj: object) -> object:
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON")


@lru_cache(maxsize=64)
def _compile_cached(key: str, field: str) -> bytes:
    return _compile(json.loads(key), field)


def _compile(spec: Mapping[str, Any], field: str) -> bytes:
    known = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"}
    known |= {"listenerPath", "listenerMetadata"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InvalidArgument(f"{field}: unknown field {unknown[0]!r}")
    if spec.get("listenerPath"):
        raise Unimplemented(f"{field}.listenerPath: seccomp user notification")
    default = _action(spec, "defaultAction", "defaultErrnoRet", field)
    _flags(spec, field)
    lib = _libseccomp()
    arches = [
        _arch(lib, a, f"{field}.architectures[{i}]")
        for i, a in enumerate(_list(spec, "architectures", field))
    ]
    rules = _list(spec, "syscalls", field)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise InvalidArgument(f"{field}.defaultAction: libseccomp refused {spec['defaultAction']}")
    try:
        # A binary search over syscall numbers instead of a linear list: for Docker's
        # profile the kernel loads it in 0.5 ms instead of 1.4 (seccomp's per-syscall
        # action cache is built by running the filter), and each syscall runs fewer
        # instructions. Older libseccomp without the attribute keeps the linear form.
        lib.seccomp_attr_set(ctx, _ATTR_OPTIMIZE, _OPTIMIZE_BINARY_TREE)
        for token in arches:
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -errno.EEXIST:
                raise error_from_errno(-rc, f"{field}.architectures: seccomp_arch_add")
        for i, rule in enumerate(rules):
            _add_rule(lib, ctx, rule, default, f"{field}.syscalls[{i}]")
        program = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    permissive = default in (_ACT_ALLOW, _ACT_LOG) or default == _ACT_ERRNO | errno.ENOSYS
    if permissive:
        return program
    return _enosys_stub(lib, arches, rules) + program


def _enosys_stub(lib: ctypes.CDLL, arches: Sequence[int], rules: Sequence[Any]) -> bytes:
    """A classic-BPF prefix returning ENOSYS for syscalls newer than the profile (runc's
    rule): per listed architecture, a number above the largest one the rules name gets
    ENOSYS instead of the default action, so a libc probing a new syscall falls back
    (glibc's fchmodat2, clone3 ...) instead of failing with EPERM.
    """
    names = {n.encode() for rule in rules for n in rule["names"]}
    tops: dict[int, dict[str, int]] = {}  # AUDIT_ARCH -> {"native" | "x32": largest nr}
    for token in dict.fromkeys(arches):
        numbers = (int(lib.seccomp_syscall_resolve_name_arch(token, n)) for n in names)
        largest = max((nr for nr in numbers if nr >= 0), default=0)
        if largest:
            x32 = token == _SCMP_ARCH_X32
            audit = _AUDIT_ARCH_X86_64 if x32 else token
            tops.setdefault(audit, {})["x32" if x32 else "native"] = largest
    if not tops:
        return b""
    # (label, opcode, jump-if-true label, jump-if-false label, k or label for ja)
    asm: list[tuple[str | None, int, str | None, str | None, int | str]] = [
        (None, _BPF_LD_W_ABS, None, None, 4)  # seccomp_data.arch
    ]
    for i, audit in enumerate(tops):
        asm.append((None, _BPF_JEQ_K, f"arch{i}", None, audit))
    asm.append((None, _BPF_JA, None, None, "filter"))
    for i, (audit, top) in enumerate(tops.items()):
        asm.append((f"arch{i}", _BPF_LD_W_ABS, None, None, 0))  # seccomp_data.nr
        if audit == _AUDIT_ARCH_X86_64:
            x32_target = f"x32_{i}" if "x32" in top else "filter"
            asm.append((None, _BPF_JSET_K, x32_target, None, _X32_SYSCALL_BIT))
        if "native" in top:
            asm.append((None, _BPF_JGT_K, "enosys", "filter", top["native"]))
        else:
            asm.append((None, _BPF_JA, None, None, "filter"))
        if "x32" in top:
            asm.append((f"x32_{i}", _BPF_JGT_K, "enosys", "filter", top["x32"]))
    asm.append(("enosys", _BPF_RET_K, None, None, _ACT_ERRNO | errno.ENOSYS))
    return _assemble(asm)


def _assemble(asm: Sequence[tuple[str | None, int, str | None, str | None, int | str]]) -> bytes:
    """Resolve labels (``"filter"`` = just past the stub) into relative jumps."""
    where = {label: i for i, (label, *_) in enumerate(asm) if label}
    where["filter"] = len(asm)
    out = []
    for i, (_, code, jt, jf, k) in enumerate(asm):
        t = 0 if jt is None else where[jt] - i - 1
        f = 0 if jf is None else where[jf] - i - 1
        value = where[k] - i - 1 if isinstance(k, str) else k
        out.append(struct.pack("<HBBI", code, t, f, value))
    return b"".join(out)


def _list(obj: Mapping[str, Any], key: str, field: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}.{key}: must be an array, got {type(value).__name__}")
    return value


def _flags(spec: Mapping[str, Any], field: str) -> int:
    out = 0
    for i, flag in enumerate(_list(spec, "flags", field)):
        if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            raise Unimplemented(f"{field}.flags[{i}]: {flag} applies to user notification")
        if not isinstance(flag, str) or flag not in _FLAGS:
            raise InvalidArgument(
                f"{field}.flags[{i}]: must be one of {', '.join(sorted(_FLAGS))}, got {flag!r}"
            )
        out |= _FLAGS[flag]
    return out


def _arch(lib: ctypes.CDLL, name: object, field: str) -> int:
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_"):
        raise InvalidArgument(f"{field}: must be an SCMP_ARCH_* name, got {name!r}")
    token = int(lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_") :].lower().encode()))
    if token == 0:
        raise InvalidArgument(f"{field}: unknown architecture {name!r}")
    return token


def _add_rule(lib: ctypes.CDLL, ctx: int, rule: object, default: int, field: str) -> None:
    if not isinstance(rule, Mapping):
        raise InvalidArgument(f"{field}: must be an object")
    unknown = sorted(set(rule) - {"names", "action", "errnoRet", "args", "comment"})
    if unknown:
        raise InvalidArgument(f"{field}: unknown field {unknown[0]!r}")
    names = rule.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidArgument(f"{field}.names: must be a non-empty array of syscall names")
    action = _action(rule, "action", "errnoRet", field)
    groups = _condition_groups(_conditions(rule, field))
    if action == default:
        return
    for name in names:
        nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
        if nr == _NR_SCMP_ERROR:
            continue  # not a syscall on this architecture/libseccomp: runc skips it too
        for group in groups:
            arr = (_ArgCmp * max(len(group), 1))(
                *(_ArgCmp(c.index, c.op, c.value, c.value_two) for c in group)
            )
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
            if rc < 0:
                raise InvalidArgument(
                    f"{field}: libseccomp refused the rule for {name!r}: {os.strerror(-rc)}"
                )


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("wharf-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise error_from_errno(-rc, "seccomp_export_bpf")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


@dataclass(frozen=True, eq=False)
class PreparedFilter:
    """A BPF program with its ``sock_fprog`` and call arguments built in the parent.

    :meth:`load` is one pre-resolved ``seccomp(SECCOMP_SET_MODE_FILTER)`` call, safe in a
    freshly cloned child (no import, no dlsym). Keep the object alive until it is loaded.
    """

    bpf: bytes
    flags: int
    _buffer: Any
    _prog: Any
    _args: tuple[Any, ...]

    def load(self) -> None:
        """Install the filter on the calling thread (all threads with TSYNC).

        Raises:
            PermissionDenied: neither no_new_privs nor CAP_SYS_ADMIN.
            InvalidArgument: the kernel rejected the program.
        """
        if _syscall(*self._args) < 0:
            raise error_from_errno(_get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")


def prepare_filter(bpf: bytes, *, flags: Iterable[str] = ()) -> PreparedFilter:
    """Build the ``sock_fprog`` for ``bpf`` (from :func:`compile_filter`).

    Args:
        flags: the spec's ``linux.seccomp.flags`` (SECCOMP_FILTER_FLAG_*).
    """
    if not bpf or len(bpf) % _SOCK_FILTER_SIZE or len(bpf) // _SOCK_FILTER_SIZE > 0xFFFF:
        raise InvalidArgument(f"seccomp filter: {len(bpf)} bytes is not a BPF program")
    bits = _flags({"flags": list(flags)}, _F)
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // _SOCK_FILTER_SIZE, ctypes.addressof(buffer))
    args = (
        ctypes.c_long(_SYS_SECCOMP),
        ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(bits),
        ctypes.c_void_p(ctypes.addressof(prog)),
    )
    return PreparedFilter(bpf, bits, buffer, prog, args)


def load_filter(bpf: bytes, *, flags: Iterable[str] = ()) -> None:
    """Prepare and load in one step (for callers that are not a fresh clone child)."""
    prepare_filter(bpf, flags=flags).load()


@cache
def _profile_data() -> dict[str, Any]:
    text = resources.files("wharf.runtime").joinpath("seccomp_default.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _kernel_at_least(version: str) -> bool:
    want = tuple(int(x) for x in version.split("."))
    have = tuple(int(x) for x in platform.release().split("-")[0].split(".")[: len(want)])
    return have >= want


def default_profile(capabilities: Iterable[str], *, machine: str | None = None) -> dict[str, Any]:
    """Docker's default seccomp profile as an OCI ``linux.seccomp`` object.

    Args:
        capabilities: the container's bounding set; as in Docker, rules such as
            "mount/unshare/setns need CAP_SYS_ADMIN" are included or left out by it.
        machine: ``uname -m`` of the target (default: this machine).
    """
    data = _profile_data()
    caps = frozenset(capabilities)
    machine = machine or platform.machine()
    goarch = data["goArch"].get(machine, machine)
    rules: list[dict[str, Any]] = []
    for rule in data["rules"]:
        if any(c not in caps for c in rule.get("caps", ())):
            continue
        if any(c in caps for c in rule.get("notCaps", ())):
            continue
        if "arches" in rule and goarch not in rule["arches"]:
            continue
        if goarch in rule.get("notArches", ()):
            continue
        if "minKernel" in rule and not _kernel_at_least(rule["minKernel"]):
            continue
        out = {"names": list(rule["names"]), "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if key in rule:
                out[key] = rule[key]
        rules.append(out)
    return {
        "defaultAction": data["defaultAction"],
        "defaultErrnoRet": data["defaultErrnoRet"],
        "architectures": list(data["archMap"].get(machine, [])),
        "syscalls": rules,
    }
