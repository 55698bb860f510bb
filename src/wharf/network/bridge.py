"""Linux bridges and veth pairs, made with ``ip -batch`` (host side) and from inside a netns."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from pathlib import Path

from wharf.errors import Unavailable
from wharf.network.netns import run_in_netns, run_ip

__all__ = [
    "attach_endpoint",
    "delete_link",
    "detach_endpoint",
    "endpoint_batch",
    "enslave",
    "ensure_bridge",
    "link_names",
]


def link_names() -> list[str]:
    """Names of the host's network links."""
    return sorted(os.listdir("/sys/class/net"))


def ensure_bridge(name: str, subnet: ipaddress.IPv4Network, gateway: str) -> None:
    """Bridge ``name`` exists, is up and has ``gateway`` on ``subnet``; IPv4 forwarding is on.

    Raises:
        Unavailable: the kernel refused.
    """
    batch = []
    if not Path(f"/sys/class/net/{name}").exists():
        batch.append(f"link add {name} type bridge")
    batch += [f"addr replace {gateway}/{subnet.prefixlen} dev {name}", f"link set {name} up"]
    run_ip(batch, what=f"bridge {name}")
    with contextlib.suppress(OSError):
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def delete_link(name: str) -> None:
    """Delete link ``name`` if present."""
    if Path(f"/sys/class/net/{name}").exists():
        with contextlib.suppress(Unavailable):
            run_ip([f"link del {name}"], what=f"delete link {name}")


def endpoint_batch(
    *,
    ifname: str,
    host_ifname: str,
    address: str,
    prefixlen: int,
    gateway: str,
    default_route: bool,
) -> list[str]:
    """``ip -batch`` lines, run inside the namespace, that make the veth ``ifname`` (its peer
    ``host_ifname`` goes to the daemon's namespace) with its address and routes."""
    batch = [
        "link set lo up",
        f"link add {ifname} type veth peer name {host_ifname} netns {os.getpid()}",
        f"addr add {address}/{prefixlen} dev {ifname}",
        f"link set {ifname} up",
    ]
    if default_route:
        batch.append(f"route add default via {gateway}")
    return batch


def enslave(host_ifname: str, bridge: str) -> None:
    """Put ``host_ifname`` on ``bridge`` and bring it up (in the caller's namespace).

    Raises:
        Unavailable: the kernel refused.
    """
    run_ip([f"link set {host_ifname} master {bridge} up"], what=f"attach {host_ifname} to {bridge}")


def attach_endpoint(
    netns: str,
    *,
    ifname: str,
    host_ifname: str,
    bridge: str,
    address: str,
    prefixlen: int,
    gateway: str,
    default_route: bool,
) -> None:
    """A veth from the namespace at ``netns`` (``ifname``) to ``bridge`` (``host_ifname``).

    Raises:
        Unavailable: a step failed; the pair is removed again.
    """
    inside = endpoint_batch(
        ifname=ifname,
        host_ifname=host_ifname,
        address=address,
        prefixlen=prefixlen,
        gateway=gateway,
        default_route=default_route,
    )

    def configure() -> None:
        run_ip(inside, what=f"endpoint {ifname} in {netns}")

    try:
        run_in_netns(netns, configure)
        enslave(host_ifname, bridge)
    except Unavailable:
        delete_link(host_ifname)
        raise


def detach_endpoint(netns: str, ifname: str) -> None:
    """Delete ``ifname`` (and so its host peer) in the namespace at ``netns``."""

    def remove() -> None:
        run_ip([f"link del {ifname}"], what=f"detach {ifname}")

    with contextlib.suppress(Unavailable):
        run_in_netns(netns, remove)
