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
    "parse_port",
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
    """One published port: container ``port/proto`` to ``host_ip:host_port`` (0 = any free)."""

    port: int
    proto: str
    host_ip: str = ""
    host_port: int = 0

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
            if host_port and (not host_port.isdigit() or int(host_port) > 65535):
                raise InvalidArgument(
                    f"HostConfig.PortBindings.{key}.HostPort: invalid host port {host_port!r}; "
                    "expected a number in 0-65535"
                )
            out.append(PortBinding(port, proto, host_ip, int(host_port or 0)))
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
            ports.setdefault(b.key, []).append(
                {"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""}
            )
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
