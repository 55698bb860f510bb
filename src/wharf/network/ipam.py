"""IPv4 address management: subnets for networks, addresses for endpoints.

Values only: the caller persists what is allocated. The gateway is the subnet's first host
address unless given; endpoints get the lowest free host address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from wharf.errors import Conflict, InvalidArgument, Unavailable

__all__ = ["allocate_address", "check_overlap", "parse_subnet", "pick_subnet"]

# Docker's default address pools (172.17-31/16, 192.168.0-240/20), shifted to 10.89-10.127/16:
# pools the host's routes do not use.
_POOLS = tuple(ipaddress.IPv4Network(f"10.{n}.0.0/16") for n in range(89, 128))


def parse_subnet(subnet: str, gateway: str = "") -> tuple[ipaddress.IPv4Network, str]:
    """``10.1.0.0/24`` (+ optional gateway) -> (network, gateway).

    Raises:
        InvalidArgument: not an IPv4 CIDR, host bits set, or the gateway outside the subnet.
    """
    try:
        network = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {subnet!r}: {exc}") from None
    if network.prefixlen > 30:
        raise InvalidArgument(f"subnet {subnet}: too small; expected a prefix of /30 or shorter")
    if gateway:
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway {gateway!r}: not an IPv4 address") from None
        if gw not in network or gw in (network.network_address, network.broadcast_address):
            raise InvalidArgument(f"gateway {gateway} is not a host address of subnet {subnet}")
        return network, gateway
    return network, str(network.network_address + 1)


def check_overlap(network: ipaddress.IPv4Network, taken: Iterable[str]) -> None:
    """Raise Conflict when ``network`` overlaps one of ``taken`` (CIDRs)."""
    for other in taken:
        if network.overlaps(ipaddress.IPv4Network(other)):
            raise Conflict(f"Pool overlaps with other one on this address space: {network}")


def host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes (from /proc/net/route)."""
    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
                mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
                if int(mask):
                    out.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    except OSError:
        return []
    return out


def pick_subnet(taken: Iterable[str]) -> ipaddress.IPv4Network:
    """The first default pool that overlaps neither ``taken`` nor the host's routes.

    Raises:
        Unavailable: every pool is used.
    """
    used = [ipaddress.IPv4Network(t) for t in taken] + host_routes()
    for pool in _POOLS:
        if not any(pool.overlaps(u) for u in used):
            return pool
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool")


def allocate_address(
    network: ipaddress.IPv4Network, gateway: str, used: Iterable[str], wanted: str = ""
) -> str:
    """A free host address of ``network`` (``wanted`` if given and free).

    Raises:
        InvalidArgument: ``wanted`` is not a host address of the subnet.
        Conflict: ``wanted`` is taken.
        Unavailable: the subnet is full.
    """
    taken = {*used, gateway}
    if wanted:
        try:
            addr = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address {wanted!r}") from None
        if addr not in network or addr in (network.network_address, network.broadcast_address):
            raise InvalidArgument(f"address {wanted} is not a host address of {network}")
        if wanted in taken:
            raise Conflict(f"Address already in use: {wanted}")
        return wanted
    for addr in network.hosts():
        if str(addr) not in taken:
            return str(addr)
    raise Unavailable(f"no available IPv4 addresses on network {network}")
