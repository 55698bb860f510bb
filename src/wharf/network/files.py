"""A container's ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname`` contents."""

from __future__ import annotations

from collections.abc import Sequence

from wharf.network.dns import RESOLVER_IP

__all__ = ["hosts_file", "resolv_conf"]

_HOSTS_HEAD = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


def hosts_file(entries: Sequence[tuple[str, Sequence[str]]]) -> str:
    """``/etc/hosts``: localhost lines then ``(address, names)`` lines in order."""
    lines = [f"{addr}\t{' '.join(names)}" for addr, names in entries if names]
    return _HOSTS_HEAD + "".join(line + "\n" for line in lines)


def resolv_conf(
    host_resolv: str,
    *,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    embedded: bool = False,
) -> str:
    """``/etc/resolv.conf``: the host's, minus loopback nameservers, with overrides applied;
    ``embedded``: the embedded resolver's instead (``nameserver 127.0.0.11``, ``ndots:0`` unless
    ``options`` set ndots), as Docker writes it on user networks."""
    servers: list[str] = []
    host_search: list[str] = []
    host_options: list[str] = []
    for line in host_resolv.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and not fields[1].startswith(("127.", "::1")):
            servers.append(fields[1])
        elif fields[0] == "search":
            host_search = fields[1:]
        elif fields[0] == "options":
            host_options += fields[1:]
    servers = list(dns) or servers or ["8.8.8.8", "8.8.4.4"]
    chosen = list(options or host_options)
    if embedded:
        servers = [RESOLVER_IP]
        if not any(o.startswith("ndots:") for o in options):
            chosen = [o for o in chosen if not o.startswith("ndots:")] + ["ndots:0"]
    out = [f"nameserver {s}" for s in servers]
    if search or host_search:
        out.append("search " + " ".join(search or host_search))
    if chosen:
        out.append("options " + " ".join(chosen))
    return "\n".join(out) + "\n"
