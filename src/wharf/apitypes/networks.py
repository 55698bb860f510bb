"""Networking and volume fields of a container create body, and the network/volume request bodies.

``ContainerNetworking`` gathers what ``HostConfig`` and ``NetworkingConfig`` say about ports,
DNS, extra hosts, mounts and networks; it round-trips through :meth:`to_json_into` so a persisted
container reloads the same. Port specs are validated here (``80/tcp``, host ports 0..65535).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.apitypes.common import Obj, get_bool, get_obj, get_str, get_str_list
from wharf.errors import InvalidArgument

__all__ = [
    "ContainerNetworking",
    "EndpointRequest",
    "MountRequest",
    "PortBinding",
    "parse_mount_flag",
    "parse_port",
    "parse_publish",
]


def parse_port(spec: str, field_name: str) -> tuple[int, str]:
    """``80/tcp`` -> (80, "tcp").

    Raises:
        InvalidArgument: not ``PORT[/tcp|udp]`` with 1 <= PORT <= 65535.
    """
    port, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp") or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(
            f"{field_name}: invalid port {spec!r}; expected PORT[/tcp|udp] with PORT in 1-65535"
        )
    return int(port), proto


@dataclass(frozen=True)
class PortBinding:
    """One published port: container ``port/proto`` to ``host_ip:host_port`` (0 = any free;
    with ``host_port_end``, the first free port of ``host_port-host_port_end``)."""

    port: int
    proto: str
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def host_ports(self) -> str:
        """``HostPort`` on the wire: ``8080``, ``8080-8090`` or empty (any)."""
        if self.host_port_end:
            return f"{self.host_port}-{self.host_port_end}"
        return str(self.host_port) if self.host_port else ""

    @property
    def key(self) -> str:
        """``80/tcp``."""
        return f"{self.port}/{self.proto}"


@dataclass(frozen=True)
class MountRequest:
    """One ``HostConfig.Mounts`` entry (``--mount``)."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    tmpfs_size: int = 0

    @classmethod
    def from_json(cls, data: Obj, index: int) -> MountRequest:
        """Parse and check one mount object.

        Raises:
            InvalidArgument: unknown type, no target, or a relative target.
        """
        prefix = f"HostConfig.Mounts[{index}]"
        kind = get_str(data, "Type", prefix + ".Type") or "volume"
        if kind not in ("bind", "volume", "tmpfs"):
            raise InvalidArgument(
                f"{prefix}.Type: mount type {kind!r} is not supported; expected bind, volume or "
                "tmpfs"
            )
        target = get_str(data, "Target", prefix + ".Target")
        if not target.startswith("/"):
            raise InvalidArgument(f"{prefix}.Target: expected an absolute path, got {target!r}")
        source = get_str(data, "Source", prefix + ".Source")
        if kind == "bind" and not source.startswith("/"):
            raise InvalidArgument(
                f"{prefix}.Source: a bind mount needs an absolute host path, got {source!r}"
            )
        if kind == "tmpfs" and source:
            raise InvalidArgument(f"{prefix}.Source: a tmpfs mount takes no source")
        size = 0
        tmpfs = data.get("TmpfsOptions")
        if isinstance(tmpfs, dict):
            raw = tmpfs.get("SizeBytes", 0)
            if not isinstance(raw, int) or raw < 0:
                raise InvalidArgument(f"{prefix}.TmpfsOptions.SizeBytes: expected bytes >= 0")
            size = raw
        return cls(
            type=kind,
            target=target,
            source=source,
            read_only=get_bool(data, "ReadOnly", prefix + ".ReadOnly"),
            tmpfs_size=size,
        )

    def to_json(self) -> dict[str, Any]:
        """Back to the wire shape."""
        out: dict[str, Any] = {"Type": self.type, "Target": self.target, "Source": self.source}
        if self.read_only:
            out["ReadOnly"] = True
        if self.tmpfs_size:
            out["TmpfsOptions"] = {"SizeBytes": self.tmpfs_size}
        return out


@dataclass(frozen=True)
class EndpointRequest:
    """``NetworkingConfig.EndpointsConfig[name]``: aliases and a requested address."""

    aliases: tuple[str, ...] = ()
    ipv4_address: str = ""

    @classmethod
    def from_json(cls, data: Obj, name: str) -> EndpointRequest:
        """Parse one endpoint config."""
        prefix = f"NetworkingConfig.EndpointsConfig.{name}"
        ipam = get_obj(data, "IPAMConfig", prefix + ".IPAMConfig")
        return cls(
            aliases=get_str_list(data, "Aliases", prefix + ".Aliases") or (),
            ipv4_address=get_str(ipam, "IPv4Address", prefix + ".IPAMConfig.IPv4Address"),
        )

    def to_json(self) -> dict[str, Any]:
        """Back to the wire shape."""
        return {
            "Aliases": list(self.aliases) or None,
            "IPAMConfig": {"IPv4Address": self.ipv4_address} if self.ipv4_address else None,
        }


def _port_bindings(data: Obj) -> tuple[PortBinding, ...]:
    raw = get_obj(data, "PortBindings", "HostConfig.PortBindings")
    out: list[PortBinding] = []
    for key in sorted(raw):
        port, proto = parse_port(key, "HostConfig.PortBindings")
        bindings = raw[key] or [{}]
        if not isinstance(bindings, list):
            raise InvalidArgument(f"HostConfig.PortBindings.{key}: expected a list of bindings")
        for binding in bindings:
            if not isinstance(binding, dict):
                raise InvalidArgument(f"HostConfig.PortBindings.{key}: expected objects")
            host_ip = get_str(binding, "HostIp", f"HostConfig.PortBindings.{key}.HostIp")
            host_port = get_str(binding, "HostPort", f"HostConfig.PortBindings.{key}.HostPort")
            first, sep, last = host_port.partition("-")
            numbers = [first, last] if sep else [first] if first else []
            if not all(n.isdigit() and int(n) <= 65535 for n in numbers) or (
                sep and not 0 < int(first) <= int(last)
            ):
                raise InvalidArgument(
                    f"HostConfig.PortBindings.{key}.HostPort: invalid host port {host_port!r}; "
                    "expected a number in 0-65535 or a range START-END"
                )
            end = int(last) if sep and last != first else 0
            out.append(PortBinding(port, proto, host_ip, int(first or 0), end))
    return tuple(out)


@dataclass(frozen=True)
class ContainerNetworking:
    """What a create body says about networks, ports, DNS and mounts."""

    port_bindings: tuple[PortBinding, ...] = ()
    publish_all: bool = False
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    mounts: tuple[MountRequest, ...] = ()
    volumes_from: tuple[str, ...] = ()
    endpoints: dict[str, EndpointRequest] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Obj, host: Obj) -> ContainerNetworking:
        """Parse from the create ``body`` and its ``HostConfig`` object ``host``.

        Raises:
            InvalidArgument: a bad port spec, extra host or mount.
        """
        extra = get_str_list(host, "ExtraHosts", "HostConfig.ExtraHosts") or ()
        for entry in extra:
            name, sep, addr = entry.partition(":")
            if not sep or not name or not addr:
                raise InvalidArgument(
                    f"HostConfig.ExtraHosts: invalid entry {entry!r}; expected HOST:IP"
                )
        raw_mounts = host.get("Mounts") or []
        if not isinstance(raw_mounts, list) or not all(isinstance(m, dict) for m in raw_mounts):
            raise InvalidArgument("HostConfig.Mounts: expected a list of mount objects")
        networking = get_obj(body, "NetworkingConfig", "NetworkingConfig")
        endpoints = get_obj(networking, "EndpointsConfig", "NetworkingConfig.EndpointsConfig")
        return cls(
            port_bindings=_port_bindings(host),
            publish_all=get_bool(host, "PublishAllPorts", "HostConfig.PublishAllPorts"),
            dns=get_str_list(host, "Dns", "HostConfig.Dns") or (),
            dns_search=get_str_list(host, "DnsSearch", "HostConfig.DnsSearch") or (),
            dns_options=get_str_list(host, "DnsOptions", "HostConfig.DnsOptions") or (),
            extra_hosts=extra,
            mounts=tuple(MountRequest.from_json(m, i) for i, m in enumerate(raw_mounts)),
            volumes_from=get_str_list(host, "VolumesFrom", "HostConfig.VolumesFrom") or (),
            endpoints={
                name: EndpointRequest.from_json(value if isinstance(value, dict) else {}, name)
                for name, value in endpoints.items()
            },
        )

    def to_json_into(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add these fields to a create-body shaped ``body`` (with its ``HostConfig``)."""
        host = body.setdefault("HostConfig", {})
        ports: dict[str, list[dict[str, str]]] = {}
        for b in self.port_bindings:
            ports.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": b.host_ports})
        host.update(
            {
                "PortBindings": ports,
                "PublishAllPorts": self.publish_all,
                "Dns": list(self.dns),
                "DnsSearch": list(self.dns_search),
                "DnsOptions": list(self.dns_options),
                "ExtraHosts": list(self.extra_hosts) or None,
                "Mounts": [m.to_json() for m in self.mounts] or None,
                "VolumesFrom": list(self.volumes_from) or None,
            }
        )
        if self.endpoints:
            body["NetworkingConfig"] = {
                "EndpointsConfig": {k: v.to_json() for k, v in self.endpoints.items()}
            }
        return body


def _port_range(text: str, what: str, spec: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if sep else start
    except ValueError:
        raise InvalidArgument(f"invalid {what} in port spec {spec!r}: {text!r}") from None
    if not 0 < start <= end < 65536:
        raise InvalidArgument(
            f"invalid {what} in port spec {spec!r}: {text!r}; expected 1-65535 or a range"
        )
    return list(range(start, end + 1))


def parse_publish(spec: str) -> list[PortBinding]:
    """``-p [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]`` -> bindings (ranges expanded).

    Raises:
        InvalidArgument: a bad address, port, range or protocol, or ranges of different sizes.
    """
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(
            f"invalid protocol {proto!r} in port spec {spec!r}: expected tcp or udp"
        )
    parts = rest.rsplit(":", 2)
    host_ip, host_ports = "", ""
    if len(parts) == 3:
        host_ip, host_ports, container_ports = parts
    elif len(parts) == 2:
        host_ports, container_ports = parts
    else:
        container_ports = parts[0]
    if host_ip:
        octets = host_ip.split(".")
        if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
            raise InvalidArgument(f"invalid host IP {host_ip!r} in port spec {spec!r}")
    ctr = _port_range(container_ports, "container port", spec)
    host = _port_range(host_ports, "host port", spec) if host_ports else [0] * len(ctr)
    if len(host) != len(ctr):
        if len(ctr) == 1 and host_ports:
            # hostStart-hostEnd:port publishes the first free host port of the range.
            return [PortBinding(ctr[0], proto, host_ip, host[0], host[-1])]
        raise InvalidArgument(
            f"invalid port spec {spec!r}: host and container port ranges differ in size"
        )
    return [PortBinding(c, proto, host_ip, h) for c, h in zip(ctr, host, strict=True)]


def parse_mount_flag(spec: str) -> MountRequest:
    """``--mount type=bind,source=/a,target=/b,readonly`` -> a mount request.

    Raises:
        InvalidArgument: an unknown key, no target, or a bad type.
    """
    fields: dict[str, Any] = {"Type": "volume"}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            fields["Type"] = value
        elif key in ("source", "src"):
            fields["Source"] = value
        elif key in ("target", "destination", "dst"):
            fields["Target"] = value
        elif key in ("readonly", "ro"):
            fields["ReadOnly"] = not sep or value.lower() in ("1", "true")
        elif key == "tmpfs-size":
            if not value.isdigit():
                raise InvalidArgument(f"--mount {spec!r}: tmpfs-size takes bytes")
            fields["TmpfsOptions"] = {"SizeBytes": int(value)}
        else:
            raise InvalidArgument(f"--mount {spec!r}: unexpected key {key!r}")
    return MountRequest.from_json(fields, 0)
