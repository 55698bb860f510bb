"""Networking: namespaces, bridges, veth endpoints, IPAM, NAT/port rules and the userland proxy.

Model (libnetwork's CNM, reduced): a *network* is a Linux bridge with a subnet and gateway
(the default ``wharf0`` or a user-defined one); an *endpoint* is a veth pair joining one
container's *sandbox* (a network namespace pinned by a bind mount under the exec root) to a
network with an address from :mod:`ipam`. Drivers ``none`` (sandbox with loopback only), ``host``
(no sandbox), ``container:X`` (X's sandbox) and ``bridge`` are chosen by the daemon
(``daemon/networks.py``), which keeps the state; this package holds the mechanisms, each
stateless: :mod:`netns`, :mod:`rtnl` (raw rtnetlink), :mod:`bridge`, :mod:`ipam`, :mod:`nft`
(the only module that runs ``nft``), :mod:`proxy` (TCP and UDP), :mod:`dns` (the embedded
resolver at ``127.0.0.11`` of a container on user networks), :mod:`files` (hosts and
resolv.conf contents) and :mod:`model` (the endpoint and sandbox values the daemon persists).
"""

from wharf.network.bridge import (
    attach_endpoint,
    delete_link,
    delete_links,
    detach_endpoint,
    ensure_bridge,
    link_names,
    new_sandbox,
)
from wharf.network.dns import (
    RESOLVER_IP,
    Resolver,
    ResolverEndpoint,
    bind_resolver_sockets,
    host_upstreams,
)
from wharf.network.files import hosts_file, resolv_conf
from wharf.network.ipam import allocate_address, check_overlap, parse_subnet, pick_subnet
from wharf.network.netns import create_netns, remove_netns, run_in_netns, run_ip
from wharf.network.nft import Bridge, Dnat, apply_resolver_redirect, apply_table, delete_table
from wharf.network.proxy import PortInUse, TcpProxy, UdpProxy, bind_port, bind_port_in_range
from wharf.network.rtnl import Rtnl

__all__ = [
    "RESOLVER_IP",
    "Bridge",
    "Dnat",
    "PortInUse",
    "Resolver",
    "ResolverEndpoint",
    "Rtnl",
    "TcpProxy",
    "UdpProxy",
    "allocate_address",
    "apply_resolver_redirect",
    "apply_table",
    "attach_endpoint",
    "bind_port",
    "bind_port_in_range",
    "bind_resolver_sockets",
    "check_overlap",
    "create_netns",
    "delete_link",
    "delete_links",
    "delete_table",
    "detach_endpoint",
    "ensure_bridge",
    "host_upstreams",
    "hosts_file",
    "link_names",
    "new_sandbox",
    "parse_subnet",
    "pick_subnet",
    "remove_netns",
    "resolv_conf",
    "run_in_netns",
    "run_ip",
]
