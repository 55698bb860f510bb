"""Networking: namespaces, bridges, veth endpoints, IPAM, NAT/port rules and the userland proxy.

Model (libnetwork's CNM, reduced): a *network* is a Linux bridge with a subnet and gateway
(the default ``wharf0`` or a user-defined one); an *endpoint* is a veth pair joining one
container's *sandbox* (a network namespace pinned by a bind mount under the exec root) to a
network with an address from :mod:`ipam`. Drivers ``none`` (sandbox with loopback only), ``host``
(no sandbox), ``container:X`` (X's sandbox) and ``bridge`` are chosen by the daemon
(``daemon/networks.py``), which keeps the state; this package holds the mechanisms, each
stateless: :mod:`netns`, :mod:`rtnl` (raw rtnetlink), :mod:`bridge`, :mod:`ipam`, :mod:`nft`
(the only module that runs ``nft``), :mod:`proxy`, :mod:`dns` (a user network's embedded DNS
server), :mod:`files` (hosts and resolv.conf contents) and :mod:`model` (the endpoint and
sandbox values the daemon persists).
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
from wharf.network.dns import DnsServer, serve_dns, start_dns
from wharf.network.files import hosts_file, resolv_conf
from wharf.network.ipam import allocate_address, check_overlap, parse_subnet, pick_subnet
from wharf.network.netns import create_netns, remove_netns, run_in_netns, run_ip
from wharf.network.nft import Dnat, Masquerade, apply_table, delete_table
from wharf.network.proxy import PortInUse, TcpProxy, bind_port
from wharf.network.rtnl import Rtnl

__all__ = [
    "Dnat",
    "DnsServer",
    "Masquerade",
    "PortInUse",
    "Rtnl",
    "TcpProxy",
    "allocate_address",
    "apply_table",
    "attach_endpoint",
    "bind_port",
    "check_overlap",
    "create_netns",
    "delete_link",
    "delete_links",
    "delete_table",
    "detach_endpoint",
    "ensure_bridge",
    "hosts_file",
    "link_names",
    "new_sandbox",
    "parse_subnet",
    "pick_subnet",
    "remove_netns",
    "resolv_conf",
    "run_in_netns",
    "run_ip",
    "serve_dns",
    "start_dns",
]
