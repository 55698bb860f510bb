"""Linux bridges (made with ``ip``, rarely) and veth endpoints (raw rtnetlink, per container)."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
from collections.abc import Callable
from pathlib import Path

from wharf.errors import Unavailable
from wharf.network.netns import create_netns, run_in_netns, run_ip
from wharf.network.rtnl import Rtnl

__all__ = [
    "attach_endpoint",
    "delete_link",
    "delete_links",
    "detach_endpoint",
    "ensure_bridge",
    "link_names",
    "new_sandbox",
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


@functools.cache
def _host_rtnl() -> Rtnl:
    """The daemon's rtnetlink socket in its own namespace (opened once)."""
    return Rtnl()


def delete_link(name: str) -> None:
    """Delete link ``name`` if present."""
    if Path(f"/sys/class/net/{name}").exists():
        with contextlib.suppress(Unavailable):
            _host_rtnl().delete(name)


def delete_links(names: list[str]) -> None:
    """Delete these links if present, over a socket of its own (safe from any thread; each
    veth deletion waits for an RCU grace period, ~25 ms, so callers run it off the hot path)."""
    rtnl = Rtnl()
    try:
        for name in names:
            if Path(f"/sys/class/net/{name}").exists():
                with contextlib.suppress(Unavailable):
                    rtnl.delete(name)
    finally:
        rtnl.close()


def new_sandbox(path: str, setup: Callable[[], None] | None = None) -> Rtnl:
    """A network namespace pinned at ``path`` with lo up, and a socket bound inside it;
    ``setup`` (if given) runs inside it after that.

    Raises:
        Unavailable: the kernel refused, or ``setup`` failed (nothing is left behind).
    """
    sockets: list[Rtnl] = []

    def inside() -> None:
        rtnl = Rtnl()
        sockets.append(rtnl)
        rtnl.loopback_up()
        if setup is not None:
            setup()

    try:
        create_netns(path, inside)
    except BaseException:
        for rtnl in sockets:
            rtnl.close()
        raise
    return sockets[0]


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
    inside: Rtnl | None = None,
) -> None:
    """A veth from the namespace at ``netns`` (``ifname``, with its address and, if
    ``default_route``, the default route) to ``bridge`` (``host_ifname``, up, in hairpin mode).
    ``inside`` is a socket already bound in that namespace (else one is opened).

    Raises:
        Unavailable: a step failed; the pair is removed again.
    """
    host = _host_rtnl()
    master = host.index(bridge)
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        host.add_veth(host_ifname, ifname, peer_netns_fd=fd, master=master)
    finally:
        os.close(fd)
    ns = inside if inside is not None else run_in_netns(netns, Rtnl)
    try:
        _hairpin(host_ifname)
        ns.configure(ifname, address, prefixlen, gateway if default_route else None)
    except Unavailable:
        delete_link(host_ifname)
        raise
    finally:
        if inside is None:
            ns.close()


def _hairpin(host_ifname: str) -> None:
    """Let the bridge send a frame back out of the port it came in by: with ``br_netfilter``
    a DNATed packet from a container to its own published port is bridged straight back.

    Raises:
        Unavailable: the port's setting cannot be written.
    """
    try:
        Path(f"/sys/class/net/{host_ifname}/brport/hairpin_mode").write_text("1")
    except OSError as exc:
        raise Unavailable(f"hairpin mode on {host_ifname}: {exc.strerror}") from None


def detach_endpoint(netns: str, ifname: str) -> None:
    """Delete ``ifname`` (and so its host peer) in the namespace at ``netns``."""

    def remove() -> None:
        rtnl = Rtnl()
        try:
            rtnl.delete(ifname)
        finally:
            rtnl.close()

    with contextlib.suppress(Unavailable):
        run_in_netns(netns, remove)
