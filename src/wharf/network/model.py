"""The CNM values the daemon keeps: endpoints (a veth on a network) and sandboxes (a
container's network namespace with its endpoints and published ports), and their JSON."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wharf.apitypes import Filters
from wharf.apitypes.networks import PortBinding

__all__ = [
    "PREDEFINED",
    "Endpoint",
    "Sandbox",
    "endpoint_json",
    "match",
    "now",
    "stable_id",
    "summary_ports",
]

PREDEFINED = ("bridge", "host", "none")


@dataclass
class Endpoint:
    network_id: str
    ifname: str
    host_ifname: str
    address: str
    aliases: list[str] = field(default_factory=list)
    endpoint_id: str = field(default_factory=lambda: secrets.token_hex(32))

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Sandbox:
    container_id: str
    name: str
    path: str
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[PortBinding] = field(default_factory=list)
    resolver_ports: list[int] = field(default_factory=list)
    """The embedded resolver's UDP and TCP ports on ``127.0.0.11`` (empty: no resolver)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id,
            "name": self.name,
            "path": self.path,
            "endpoints": [e.to_json() for e in self.endpoints],
            "ports": [[p.port, p.proto, p.host_ip, p.host_port] for p in self.ports],
            "resolver_ports": self.resolver_ports,
        }

    def answers_to(self, endpoint: Endpoint, name: str) -> bool:
        """``name`` (any case, trailing dot or not) names this container on ``endpoint``."""
        name = name.rstrip(".").lower()
        names = {self.name.lower(), self.container_id[:12], self.container_id}
        return name in names or name in (a.lower() for a in endpoint.aliases)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sandbox:
        return cls(
            container_id=data["container_id"],
            name=data["name"],
            path=data["path"],
            endpoints=[Endpoint(**e) for e in data["endpoints"]],
            ports=[PortBinding(*p) for p in data["ports"]],
            resolver_ports=list(data.get("resolver_ports") or []),
        )


def endpoint_json(n: dict[str, Any], e: Endpoint | None) -> dict[str, Any]:
    """One entry of a container's ``NetworkSettings.Networks``."""
    prefix = ipaddress.IPv4Network(n["Subnet"]).prefixlen if e is not None else 0
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": list(e.aliases) if e is not None and e.aliases else None,
        "NetworkID": n["Id"],
        "EndpointID": e.endpoint_id if e is not None else "",
        "Gateway": n["Gateway"] if e is not None else "",
        "IPAddress": e.address if e is not None else "",
        "IPPrefixLen": prefix,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }


def match(n: dict[str, Any], filters: Filters) -> bool:
    """Network ``n`` passes the list filters (name, id, driver, type, label)."""
    for key, values in filters.items():
        if key == "name" and not any(v in n["Name"] for v in values):
            return False
        if key == "id" and not any(n["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and n["Driver"] not in values:
            return False
        if key == "type":
            kind = "builtin" if n["Name"] in PREDEFINED else "custom"
            if kind not in values:
                return False
        if key == "label":
            for v in values:
                k, sep, val = v.partition("=")
                if k not in n["Labels"] or (sep and n["Labels"][k] != val):
                    return False
    return True


def stable_id(seed: str) -> str:
    """A 64-hex id that is the same on every start (predefined networks)."""
    return hashlib.sha256(seed.encode()).hexdigest()


def now() -> str:
    """RFC 3339 UTC with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summary_ports(ports: Sequence[PortBinding], exposed: Sequence[str]) -> list[dict[str, Any]]:
    """``Ports`` of a container list entry: published ports, then exposed unpublished ones."""
    out: list[dict[str, Any]] = []
    for p in ports:
        out.append(
            {
                "IP": p.host_ip or "0.0.0.0",
                "PrivatePort": p.port,
                "PublicPort": p.host_port,
                "Type": p.proto,
            }
        )
    published = {p.key for p in ports}
    for key in exposed:
        port, _, proto = key.partition("/")
        if f"{port}/{proto or 'tcp'}" not in published:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out


def settings_json(
    sandbox: Sandbox | None,
    default: Endpoint | None,
    bridge: dict[str, Any],
    ports: dict[str, Any],
    networks: dict[str, Any],
) -> dict[str, Any]:
    """``NetworkSettings`` of container inspect (``default``: the endpoint on ``bridge``)."""
    return {
        "Bridge": "",
        "SandboxID": sandbox.container_id if sandbox is not None else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SandboxKey": sandbox.path if sandbox is not None else "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default.endpoint_id if default else "",
        "Gateway": bridge["Gateway"] if default else "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": default.address if default else "",
        "IPPrefixLen": ipaddress.IPv4Network(bridge["Subnet"]).prefixlen if default else 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": networks,
    }
