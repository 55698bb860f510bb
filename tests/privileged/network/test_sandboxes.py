"""Sandboxes, veth endpoints over raw rtnetlink and the nft table, on the real kernel.

Everything is named ``net-p<hex>`` and removed in ``finally``; traffic only between two
namespaces the test made, across a bridge it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import dns.message
import pytest

from wharf import network as net
from wharf.errors import Unavailable


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """(stem, temp dir): the bridge is ``<stem>0``, links start with the stem."""
    stem = f"net-p{secrets.token_hex(2)}"
    tmp = tempfile.mkdtemp(prefix="net-sbx-")
    try:
        yield stem, tmp
    finally:
        for path in os.listdir(tmp):
            net.remove_netns(os.path.join(tmp, path))
        shutil.rmtree(tmp, ignore_errors=True)
        for link in os.listdir("/sys/class/net"):
            if link.startswith(stem):
                subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", stem], capture_output=True, check=False)


def _in(path: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return net.run_in_netns(
        path, lambda: subprocess.run(argv, capture_output=True, text=True, check=False)
    )


def test_two_sandboxes_on_a_bridge_reach_each_other(names: tuple[str, str]) -> None:
    stem, tmp = names
    subnet = ipaddress.IPv4Network("10.214.0.0/24")
    net.ensure_bridge(stem + "0", subnet, "10.214.0.1")
    paths = []
    for i in (2, 3):
        path = os.path.join(tmp, f"s{i}")
        inside = net.new_sandbox(path)
        try:
            net.attach_endpoint(
                path,
                ifname="eth0",
                host_ifname=f"{stem}v{i}",
                bridge=stem + "0",
                address=f"10.214.0.{i}",
                prefixlen=24,
                gateway="10.214.0.1",
                default_route=True,
                inside=inside,
            )
        finally:
            inside.close()
        paths.append(path)
    addr = _in(paths[0], "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert "inet 10.214.0.2/24" in addr
    assert "default via 10.214.0.1 dev eth0" in _in(paths[0], "ip", "route").stdout
    assert "LOOPBACK,UP" in _in(paths[0], "ip", "link", "show", "lo").stdout
    ping = _in(paths[0], "busybox", "ping", "-c", "1", "-W", "3", "10.214.0.3")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    with open(f"/sys/class/net/{stem}v2/master/uevent") as f:
        assert f"INTERFACE={stem}0" in f.read()
    # The namespace's end takes the veth with it.
    net.remove_netns(paths[1])
    net.delete_links([f"{stem}v3"])
    assert not os.path.exists(f"/sys/class/net/{stem}v3")


def test_failed_endpoint_leaves_no_link(names: tuple[str, str]) -> None:
    stem, tmp = names
    path = os.path.join(tmp, "s")
    inside = net.new_sandbox(path)
    try:
        with pytest.raises(Unavailable):
            net.attach_endpoint(
                path,
                ifname="eth0",
                host_ifname=f"{stem}v9",
                bridge=f"{stem}-nosuch",
                address="10.214.1.2",
                prefixlen=24,
                gateway="10.214.1.1",
                default_route=True,
                inside=inside,
            )
    finally:
        inside.close()
    assert not any(link.startswith(stem) for link in os.listdir("/sys/class/net"))
    with pytest.raises(FileExistsError):
        net.create_netns(path)


def test_nft_table_is_applied_and_deleted(names: tuple[str, str]) -> None:
    stem, _ = names
    net.apply_table(
        stem,
        [net.Bridge("10.214.0.0/24", stem + "0")],
        [net.Dnat("tcp", "127.0.0.1", 15499, "10.214.0.2", 80)],
    )
    listing = subprocess.run(
        ["nft", "list", "table", "ip", stem], capture_output=True, text=True, check=True
    ).stdout
    assert "dnat to 10.214.0.2:80" in listing
    assert "masquerade" in listing
    net.apply_table(stem, [], [])  # rewritten whole
    listing = subprocess.run(
        ["nft", "list", "table", "ip", stem], capture_output=True, text=True, check=True
    ).stdout
    assert "dnat" not in listing
    net.delete_table(stem)
    gone = subprocess.run(["nft", "list", "table", "ip", stem], capture_output=True, check=False)
    assert gone.returncode != 0


def test_container_subnet_traffic_never_leaves_by_another_link(names: tuple[str, str]) -> None:
    """With the bridge missing, a packet for its subnet would follow another route (here a
    veth pair inside the test's own namespace); the guard chain drops it instead."""
    stem, tmp = names
    path = os.path.join(tmp, "guard")
    net.create_netns(path)

    def scenario() -> tuple[int, int]:
        # Only our packets on g0: no IPv6 (router solicitations, DAD) on the new links.
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
            f.write("1")
        veth = ["ip", "link", "add", "g0", "type", "veth", "peer", "name", "g1"]
        subprocess.run(veth, check=True)
        for link in ("g0", "g1"):
            subprocess.run(["ip", "link", "set", link, "up"], check=True)
        subprocess.run(["ip", "route", "add", "10.218.0.0/24", "dev", "g0"], check=True)

        def tx() -> int:  # /sys shows the host's links: ask the namespace's netlink
            argv = ["ip", "-j", "-s", "link", "show", "g0"]
            out = subprocess.run(argv, capture_output=True, check=True).stdout
            return int(json.loads(out)[0]["stats64"]["tx"]["packets"])

        sent = []
        for table in ([], [net.Bridge("10.218.0.0/24", stem + "0")]):
            if table:
                net.apply_table(stem, table, [])
                # and no retry of the first send's ARP request
                subprocess.run(["ip", "neigh", "flush", "dev", "g0"], check=True)
            before = tx()
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
                contextlib.suppress(PermissionError),  # dropped on the way out
            ):
                sock.sendto(b"x", ("10.218.0.5", 9))
            sent.append(tx() - before)
        return sent[0], sent[1]

    without_guard, with_guard = net.run_in_netns(path, scenario)
    assert without_guard >= 1  # the ARP request for it, at least
    assert with_guard == 0


def test_resolver_sockets_in_a_namespace_answer_at_127_0_0_11(names: tuple[str, str]) -> None:
    """The embedded resolver's mechanism: sockets bound on 127.0.0.11 inside a namespace, the
    redirect of port 53 there, served by the caller's event loop; its own port 53 stays free."""
    stem, tmp = names
    path = os.path.join(tmp, "r")
    pairs: list[tuple[socket.socket, socket.socket]] = []

    def setup() -> None:
        pair = net.bind_resolver_sockets()
        pairs.append(pair)
        net.apply_resolver_redirect(stem, pair[0].getsockname()[1], pair[1].getsockname()[1])

    net.new_sandbox(path, setup).close()
    assert pairs[0][0].getsockname()[1] != 53

    def ask() -> tuple[bytes, bool]:
        query = dns.message.make_query("web", "A").to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(query, ("127.0.0.11", 53))
            reply = client.recv(512)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as own:
            own.bind(("0.0.0.0", 53))  # the container's port 53 is its own
        return reply, True

    async def main() -> tuple[bytes, bool]:
        resolver = net.Resolver(lambda n: ["10.9.9.9"] if n == "web" else [], lambda a: [], [])
        endpoint = net.ResolverEndpoint(resolver, *pairs[0])
        endpoint.start_soon()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, net.run_in_netns, path, ask)
        finally:
            endpoint.close()

    reply, bound = asyncio.run(main())
    assert bound
    assert [r.address for r in dns.message.from_wire(reply).answer[0]] == ["10.9.9.9"]
