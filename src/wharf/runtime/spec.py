"""Typed OCI runtime spec (runtime-spec 1.0.2 ``config.json``), validated on the way in.

:meth:`Spec.from_json` turns the decoded JSON object into frozen dataclasses and raises
:class:`wharf.errors.InvalidArgument` naming the offending field by its path, e.g.
``linux.namespaces[2].type: must be one of cgroup, ipc, ...; got "bogus"``. Only what the
Linux runtime uses is modelled; unknown keys are ignored, as the spec requires.

``linux.resources`` and ``linux.seccomp`` are kept as the validated-later JSON objects:
``wharf.runtime.cgroups.Resources.from_spec`` and ``wharf.runtime.seccomp`` own their
schema and their error messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from wharf.errors import InvalidArgument, NotFound

__all__ = [
    "NAMESPACE_TYPES",
    "RLIMIT_TYPES",
    "Capabilities",
    "Device",
    "Hook",
    "Hooks",
    "IDMapping",
    "Linux",
    "Namespace",
    "Process",
    "Rlimit",
    "Root",
    "Spec",
    "SpecMount",
    "User",
]

NAMESPACE_TYPES: Final = ("cgroup", "ipc", "mount", "network", "pid", "user", "uts")

# RLIMIT_* name -> resource number (Linux, x86_64), as in setrlimit(2).
RLIMIT_TYPES: Final[dict[str, int]] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

_PROPAGATIONS: Final = ("", "private", "rprivate", "shared", "rshared", "slave", "rslave")
_DEVICE_TYPES: Final = ("c", "b", "u", "p")
_U32: Final = 2**32 - 1
_U64: Final = 2**64 - 1


class _Field:
    """A cursor on one JSON value; its dotted path, for error messages, is built from the
    parent's path only when asked (most fields are valid: no string work for them)."""

    __slots__ = ("_key", "_parent", "value")

    def __init__(self, value: Any, path: str, parent: _Field | None = None) -> None:
        """``path`` is the whole path, or with ``parent`` the key (``.name``/``[i]``)."""
        self.value = value
        self._key = path
        self._parent = parent

    @property
    def path(self) -> str:
        if self._parent is None:
            return self._key
        base = self._parent.path
        if not base:
            return self._key.removeprefix(".")
        return base + self._key

    def fail(self, expectation: str) -> InvalidArgument:
        where = self.path or "config.json"
        return InvalidArgument(f"{where}: {expectation}; got {json.dumps(self.value)}")

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail("must be an object")
        return self.value

    def get(self, key: str) -> _Field | None:
        value = self.obj().get(key)
        return None if value is None else _Field(value, "." + key, self)

    def items(self) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail("must be an array")
        return [_Field(v, f"[{i}]", self) for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail("must be a string")
        return self.value

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("must be true or false")
        return self.value

    def number(self, lo: int, hi: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail("must be an integer")
        if not lo <= self.value <= hi:
            raise self.fail(f"must be between {lo} and {hi}")
        return self.value

    def abs_path(self) -> str:
        text = self.text()
        if not text.startswith("/"):
            raise self.fail("must be an absolute path")
        return text

    def strings(self) -> tuple[str, ...]:
        value = self.value
        if isinstance(value, list) and all(type(v) is str for v in value):
            return tuple(value)  # the common case, without a cursor per item
        return tuple(f.text() for f in self.items())

    def string_map(self) -> dict[str, str]:
        return {k: _Field(v, f"{self.path}.{k}").text() for k, v in self.obj().items()}


def _opt_str(parent: _Field, key: str, default: str = "") -> str:
    value = parent.obj().get(key)
    if type(value) is str:
        return value
    return default if value is None else _Field(value, "." + key, parent).text()


def _opt_bool(parent: _Field, key: str) -> bool:
    value = parent.obj().get(key)
    if type(value) is bool:
        return value
    return False if value is None else _Field(value, "." + key, parent).flag()


def _opt_items(parent: _Field, key: str) -> list[_Field]:
    f = parent.get(key)
    return [] if f is None else f.items()


def _opt_int(parent: _Field, key: str, lo: int, hi: int, default: int) -> int:
    f = parent.get(key)
    return default if f is None else f.number(lo, hi)


def _opt_strings(parent: _Field, key: str) -> tuple[str, ...]:
    f = parent.get(key)
    return () if f is None else f.strings()


def _required(parent: _Field, key: str, what: str) -> _Field:
    f = parent.get(key)
    if f is None:
        where = f"{parent.path}.{key}" if parent.path else key
        raise InvalidArgument(f"{where}: is required ({what})")
    return f


@dataclass(frozen=True)
class User:
    """``process.user``: the ids the process runs as (numbers; names are the engine's job)."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, f: _Field) -> User:
        umask = f.get("umask")
        return cls(
            uid=_required(f, "uid", "a numeric uid").number(0, _U32),
            gid=_required(f, "gid", "a numeric gid").number(0, _U32),
            umask=None if umask is None else umask.number(0, 0o777),
            additional_gids=tuple(g.number(0, _U32) for g in _opt_items(f, "additionalGids")),
        )


@dataclass(frozen=True)
class Capabilities:
    """``process.capabilities``: the five sets, as ``CAP_*`` names (validated by
    ``wharf.runtime.capabilities``)."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, f: _Field) -> Capabilities:
        def names(key: str) -> tuple[str, ...]:
            value = f.obj().get(key)
            if isinstance(value, list) and all(
                type(v) is str and v.startswith("CAP_") for v in value
            ):
                return tuple(value)  # the common case, without a cursor per item
            items = _opt_items(f, key)
            for item in items:
                if not item.text().startswith("CAP_"):
                    raise item.fail('must be a capability name like "CAP_CHOWN"')
            return tuple(item.text() for item in items)

        return cls(
            bounding=names("bounding"),
            effective=names("effective"),
            inheritable=names("inheritable"),
            permitted=names("permitted"),
            ambient=names("ambient"),
        )

    def to_json(self) -> dict[str, list[str]]:
        return {
            "bounding": list(self.bounding),
            "effective": list(self.effective),
            "inheritable": list(self.inheritable),
            "permitted": list(self.permitted),
            "ambient": list(self.ambient),
        }


@dataclass(frozen=True)
class Rlimit:
    """One ``process.rlimits[]`` entry; ``resource`` is the RLIMIT_* number."""

    type: str
    resource: int
    soft: int
    hard: int

    @classmethod
    def from_json(cls, f: _Field) -> Rlimit:
        t = _required(f, "type", "an RLIMIT_* name")
        name = t.text()
        if name not in RLIMIT_TYPES:
            raise t.fail("must be one of " + ", ".join(RLIMIT_TYPES))
        soft = _required(f, "soft", "the soft limit").number(0, _U64)
        hard = _required(f, "hard", "the hard limit").number(0, _U64)
        if soft > hard:
            raise InvalidArgument(f"{f.path}: soft limit {soft} is above hard limit {hard}")
        return cls(type=name, resource=RLIMIT_TYPES[name], soft=soft, hard=hard)


@dataclass(frozen=True)
class Process:
    """``process``: what runs in the container and how."""

    args: tuple[str, ...]
    cwd: str
    env: tuple[str, ...] = ()
    user: User = field(default_factory=User)
    terminal: bool = False
    console_size: tuple[int, int] | None = None
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""

    @classmethod
    def from_json(cls, f: _Field) -> Process:
        args = _required(f, "args", "the command to run")
        arg_list = args.strings()
        if not arg_list or not arg_list[0]:
            raise args.fail("must name a program to run")
        env = _opt_strings(f, "env")
        for i, item in enumerate(env):
            if "=" not in item:
                raise _Field(item, f"{f.path}.env[{i}]").fail('must be "NAME=value"')
        size = f.get("consoleSize")
        caps = f.get("capabilities")
        oom = f.get("oomScoreAdj")
        user = f.get("user")
        rlimits = f.get("rlimits")
        return cls(
            args=arg_list,
            cwd=_required(f, "cwd", "the working directory").abs_path(),
            env=env,
            user=User() if user is None else User.from_json(user),
            terminal=_opt_bool(f, "terminal"),
            console_size=None
            if size is None
            else (
                _required(size, "height", "rows").number(0, 65535),
                _required(size, "width", "columns").number(0, 65535),
            ),
            capabilities=None if caps is None else Capabilities.from_json(caps),
            rlimits=() if rlimits is None else tuple(Rlimit.from_json(r) for r in rlimits.items()),
            no_new_privileges=_opt_bool(f, "noNewPrivileges"),
            oom_score_adj=None if oom is None else oom.number(-1000, 1000),
            apparmor_profile=_opt_str(f, "apparmorProfile"),
            selinux_label=_opt_str(f, "selinuxLabel"),
        )

    @classmethod
    def from_process_json(cls, obj: Any) -> Process:
        """Validate a bare ``process`` object (``runc exec --process FILE``)."""
        return cls.from_json(_Field(obj, "process"))


@dataclass(frozen=True)
class Root:
    """``root``: the bundle's root filesystem directory (relative to the bundle or absolute)."""

    path: str
    readonly: bool = False


@dataclass(frozen=True)
class SpecMount:
    """One ``mounts[]`` entry."""

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, f: _Field) -> SpecMount:
        return cls(
            destination=_required(f, "destination", "where to mount").abs_path(),
            type=_opt_str(f, "type"),
            source=_opt_str(f, "source"),
            options=_opt_strings(f, "options"),
        )

    @property
    def is_bind(self) -> bool:
        return self.type in ("bind", "rbind") or any(o in ("bind", "rbind") for o in self.options)


@dataclass(frozen=True)
class Hook:
    """One hook: an absolute program path, its argv and env, and an optional timeout (s)."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None

    @classmethod
    def from_json(cls, f: _Field) -> Hook:
        timeout = f.get("timeout")
        return cls(
            path=_required(f, "path", "the hook program").abs_path(),
            args=_opt_strings(f, "args"),
            env=_opt_strings(f, "env"),
            timeout=None if timeout is None else timeout.number(1, 86400),
        )


@dataclass(frozen=True)
class Hooks:
    """``hooks``: the six lifecycle points of the spec."""

    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    @classmethod
    def from_json(cls, f: _Field) -> Hooks:
        def hooks(key: str) -> tuple[Hook, ...]:
            g = f.get(key)
            return () if g is None else tuple(Hook.from_json(h) for h in g.items())

        return cls(
            prestart=hooks("prestart"),
            create_runtime=hooks("createRuntime"),
            create_container=hooks("createContainer"),
            start_container=hooks("startContainer"),
            poststart=hooks("poststart"),
            poststop=hooks("poststop"),
        )


@dataclass(frozen=True)
class Namespace:
    """``linux.namespaces[]``: a namespace type, new (no path) or joined by ``path``."""

    type: str
    path: str = ""


@dataclass(frozen=True)
class IDMapping:
    """One line of ``/proc/PID/uid_map`` or ``gid_map``."""

    container_id: int
    host_id: int
    size: int

    @classmethod
    def from_json(cls, f: _Field) -> IDMapping:
        return cls(
            container_id=_required(f, "containerID", "first id inside").number(0, _U32),
            host_id=_required(f, "hostID", "first id outside").number(0, _U32),
            size=_required(f, "size", "how many ids").number(1, _U32),
        )


@dataclass(frozen=True)
class Device:
    """``linux.devices[]``: a device node to create in the container."""

    path: str
    type: str
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0

    @classmethod
    def from_json(cls, f: _Field) -> Device:
        t = _required(f, "type", "c, b, u or p")
        if t.text() not in _DEVICE_TYPES:
            raise t.fail("must be one of c, b, u, p")
        path = _required(f, "path", "the device path")
        if not path.abs_path().startswith("/dev/"):
            raise path.fail("must be under /dev/")
        fifo = t.text() == "p"
        return cls(
            path=path.text(),
            type=t.text(),
            major=_opt_int(f, "major", 0, _U32, 0)
            if fifo
            else _required(f, "major", "major number").number(0, _U32),
            minor=_opt_int(f, "minor", 0, _U32, 0)
            if fifo
            else _required(f, "minor", "minor number").number(0, _U32),
            file_mode=_opt_int(f, "fileMode", 0, 0o7777, 0o666),
            uid=_opt_int(f, "uid", 0, _U32, 0),
            gid=_opt_int(f, "gid", 0, _U32, 0),
        )


@dataclass(frozen=True)
class Linux:
    """``linux``: namespaces, id maps, devices, cgroups, sysctls, path policies."""

    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: Mapping[str, Any] | None = None
    seccomp: Mapping[str, Any] | None = None
    sysctl: Mapping[str, str] = field(default_factory=dict)
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    rootfs_propagation: str = ""
    mount_label: str = ""

    @classmethod
    def from_json(cls, f: _Field) -> Linux:
        namespaces: list[Namespace] = []
        seen: set[str] = set()
        for item in _opt_items(f, "namespaces"):
            t = _required(item, "type", "a namespace type")
            if t.text() not in NAMESPACE_TYPES:
                raise t.fail("must be one of " + ", ".join(NAMESPACE_TYPES))
            if t.text() in seen:
                raise t.fail("is listed twice")
            seen.add(t.text())
            p = item.get("path")
            namespaces.append(Namespace(t.text(), "" if p is None else p.abs_path()))

        def mappings(key: str) -> tuple[IDMapping, ...]:
            g = f.get(key)
            return () if g is None else tuple(IDMapping.from_json(m) for m in g.items())

        uid_maps, gid_maps = mappings("uidMappings"), mappings("gidMappings")
        if (uid_maps or gid_maps) and "user" not in seen:
            raise InvalidArgument(
                "linux.uidMappings: id mappings need a user namespace in linux.namespaces"
            )
        resources = f.get("resources")
        seccomp = f.get("seccomp")
        sysctl = f.get("sysctl")
        prop = f.get("rootfsPropagation")
        if prop is not None and prop.text() not in _PROPAGATIONS:
            raise prop.fail("must be one of " + ", ".join(p for p in _PROPAGATIONS if p))
        cgroups_path = f.get("cgroupsPath")
        return cls(
            namespaces=tuple(namespaces),
            uid_mappings=uid_maps,
            gid_mappings=gid_maps,
            devices=tuple(Device.from_json(d) for d in _opt_items(f, "devices")),
            cgroups_path="" if cgroups_path is None else cgroups_path.text(),
            resources=None if resources is None else resources.obj(),
            seccomp=None if seccomp is None else seccomp.obj(),
            sysctl={} if sysctl is None else sysctl.string_map(),
            masked_paths=tuple(p.abs_path() for p in _opt_items(f, "maskedPaths")),
            readonly_paths=tuple(p.abs_path() for p in _opt_items(f, "readonlyPaths")),
            rootfs_propagation="" if prop is None else prop.text(),
            mount_label=_opt_str(f, "mountLabel"),
        )

    def namespace(self, type_: str) -> Namespace | None:
        """The entry for namespace ``type_``, or None when the container shares the host's."""
        return next((ns for ns in self.namespaces if ns.type == type_), None)


@dataclass(frozen=True)
class Spec:
    """A validated ``config.json``."""

    oci_version: str
    root: Root | None = None
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[SpecMount, ...] = ()
    hooks: Hooks = field(default_factory=Hooks)
    annotations: Mapping[str, str] = field(default_factory=dict)
    linux: Linux = field(default_factory=Linux)

    @classmethod
    def from_json(cls, obj: Any) -> Spec:
        """Validate a decoded ``config.json`` object.

        Raises:
            InvalidArgument: a field is missing, has the wrong type or an impossible value;
                the message starts with the field's path.
        """
        top = _Field(obj, "")
        top.obj()
        version = _required(top, "ociVersion", "the runtime-spec version").text()
        if not version.startswith("1."):
            raise InvalidArgument(f'ociVersion: must be a 1.x version; got "{version}"')
        root = top.get("root")
        process = top.get("process")
        mounts = top.get("mounts")
        hooks = top.get("hooks")
        annotations = top.get("annotations")
        linux = top.get("linux")
        hostname = _opt_str(top, "hostname")
        if len(hostname.encode()) > 64:
            raise InvalidArgument(f"hostname: must be at most 64 bytes; got {hostname!r}")
        spec = cls(
            oci_version=version,
            root=None
            if root is None
            else Root(
                path=_required(root, "path", "the rootfs directory").text(),
                readonly=_opt_bool(root, "readonly"),
            ),
            process=None if process is None else Process.from_json(process),
            hostname=hostname,
            domainname=_opt_str(top, "domainname"),
            mounts=() if mounts is None else tuple(SpecMount.from_json(m) for m in mounts.items()),
            hooks=Hooks() if hooks is None else Hooks.from_json(hooks),
            annotations={} if annotations is None else annotations.string_map(),
            linux=Linux() if linux is None else Linux.from_json(linux),
        )
        if spec.hostname and spec.linux.namespace("uts") is None:
            raise InvalidArgument("hostname: needs a uts namespace in linux.namespaces")
        return spec

    @classmethod
    def load(cls, path: str) -> Spec:
        """Read and validate ``config.json`` at ``path``.

        Raises:
            NotFound: no such file.
            InvalidArgument: not JSON, or not a valid spec.
        """
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"{path}: no such file (an OCI bundle needs a config.json)") from None
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(f"{path}: not valid JSON: {exc}") from None
        return cls.from_json(obj)
