"""The one module that runs ``nft``: NAT and isolation for bridges, DNAT for published ports,
and the embedded resolver's redirect inside a container's namespace.

Everything of the daemon lives in one table (``ip <table>``) that is rewritten whole from the
daemon's state each time something changes (``nft -f`` applies a file atomically), so a
restarted daemon reconciles by writing the table again, and removal is one ``delete table``.

Published ports are DNATed for packets arriving from anywhere but loopback (the bridges
included: a container reaching ``gateway:hostPort`` is sent on to the target); a DNATed packet
that leaves by the bridge it came from (a container reaching a neighbour's published port, or
its own) is masqueraded so the reply comes back the same way. Loopback is served by the
userland proxy. An internal bridge forwards nothing to or from other links. A packet for a
bridge's subnet never leaves by another interface (the ``guard`` chain).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from wharf.errors import Unavailable
from wharf.network.dns import RESOLVER_IP

__all__ = [
    "Bridge",
    "Dnat",
    "apply_resolver_redirect",
    "apply_table",
    "delete_table",
    "render_resolver_redirect",
    "render_table",
]


@dataclass(frozen=True)
class Bridge:
    """A bridge and its subnet; ``internal``: no outbound NAT and no forwarding off it."""

    subnet: str
    bridge: str
    internal: bool = False


@dataclass(frozen=True)
class Dnat:
    """``host_ip:host_port/proto`` (any local address when ``host_ip`` is empty) -> target."""

    proto: str
    host_ip: str
    host_port: int
    target_ip: str
    target_port: int


def render_table(table: str, bridges: Sequence[Bridge], dnats: Sequence[Dnat]) -> str:
    """The ``nft -f`` script that (re)creates ``table`` with these rules."""
    lines = [
        f"table ip {table} {{}}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  chain ports {",
    ]
    for d in dnats:
        match = f"ip daddr {d.host_ip} " if d.host_ip and d.host_ip != "0.0.0.0" else ""
        lines.append(
            f"    {match}{d.proto} dport {d.host_port} dnat to {d.target_ip}:{d.target_port}"
        )
    lines += [
        "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump ports",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    ip daddr != 127.0.0.0/8 fib daddr type local jump ports",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    for b in bridges:
        if not b.internal:
            lines.append(f'    ip saddr {b.subnet} oifname != "{b.bridge}" masquerade')
            lines.append(f'    ct status dnat ip saddr {b.subnet} oifname "{b.bridge}" masquerade')
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for b in bridges:
        if b.internal:
            lines.append(f'    iifname "{b.bridge}" oifname != "{b.bridge}" drop')
            lines.append(f'    oifname "{b.bridge}" iifname != "{b.bridge}" drop')
    lines += [
        "  }",
        "  chain guard {",
        "    type filter hook postrouting priority filter; policy accept;",
    ]
    for b in bridges:
        # A packet for a container's address leaves by its bridge or not at all: while a
        # bridge is missing (a restart, a test tearing down) a DNAT or proxy target would
        # otherwise follow the default route off the machine.
        lines.append(f'    ip daddr {b.subnet} oifname != {{ "{b.bridge}", "lo" }} drop')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def render_resolver_redirect(table: str, udp_port: int, tcp_port: int) -> str:
    """The ``nft -f`` script, for a container's namespace, that sends ``127.0.0.11:53`` (UDP
    and TCP) to the resolver's sockets on ``127.0.0.11:udp_port`` and ``:tcp_port``."""
    return (
        "\n".join(
            [
                f"table ip {table} {{}}",
                f"delete table ip {table}",
                f"table ip {table} {{",
                "  chain output {",
                "    type nat hook output priority -100; policy accept;",
                f"    ip daddr {RESOLVER_IP} udp dport 53 dnat to {RESOLVER_IP}:{udp_port}",
                f"    ip daddr {RESOLVER_IP} tcp dport 53 dnat to {RESOLVER_IP}:{tcp_port}",
                "  }",
                "}",
            ]
        )
        + "\n"
    )


def _nft(script: str, what: str) -> None:
    proc = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise Unavailable(f"{what}: nft: {proc.stderr.strip()}")


def apply_table(table: str, bridges: Sequence[Bridge], dnats: Sequence[Dnat]) -> None:
    """Replace table ``table`` atomically.

    Raises:
        Unavailable: nft refused the rules.
    """
    _nft(render_table(table, bridges, dnats), f"nft table {table}")


def apply_resolver_redirect(table: str, udp_port: int, tcp_port: int) -> None:
    """Write :func:`render_resolver_redirect` in the calling thread's network namespace.

    Raises:
        Unavailable: nft refused the rules.
    """
    _nft(render_resolver_redirect(table, udp_port, tcp_port), f"resolver redirect {table}")


def delete_table(table: str) -> None:
    """Remove table ``table`` if present."""
    _nft(f"table ip {table} {{}}\ndelete table ip {table}\n", f"delete nft table {table}")
