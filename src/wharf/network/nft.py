"""The one module that runs ``nft``: NAT for bridge subnets and DNAT for published ports.

Everything lives in one table (``ip <table>``) that is rewritten whole from the daemon's state
each time something changes (``nft -f`` applies a file atomically), so a restarted daemon
reconciles by writing the table again, and removal is one ``delete table``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from wharf.errors import Unavailable

__all__ = ["Dnat", "Masquerade", "apply_table", "delete_table", "render_table"]


@dataclass(frozen=True)
class Masquerade:
    """Outbound NAT for ``subnet`` leaving by any link but ``bridge``."""

    subnet: str
    bridge: str


@dataclass(frozen=True)
class Dnat:
    """``host_ip:host_port/proto`` (any local address when ``host_ip`` is empty) -> target."""

    proto: str
    host_ip: str
    host_port: int
    target_ip: str
    target_port: int


def render_table(table: str, masquerades: Sequence[Masquerade], dnats: Sequence[Dnat]) -> str:
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
    lines += [f'    ip saddr {m.subnet} oifname != "{m.bridge}" masquerade' for m in masquerades]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _nft(script: str, what: str) -> None:
    proc = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise Unavailable(f"{what}: nft: {proc.stderr.strip()}")


def apply_table(table: str, masquerades: Sequence[Masquerade], dnats: Sequence[Dnat]) -> None:
    """Replace table ``table`` atomically.

    Raises:
        Unavailable: nft refused the rules.
    """
    _nft(render_table(table, masquerades, dnats), f"nft table {table}")


def delete_table(table: str) -> None:
    """Remove table ``table`` if present."""
    _nft(f"table ip {table} {{}}\ndelete table ip {table}\n", f"delete nft table {table}")
