"""Reachability with the real docker CLI: hairpin to published ports, UDP through the proxy,
the embedded resolver at 127.0.0.11, host-port ranges, internal networks, and removing a
network that only stopped containers name.

This module's daemon has a default bridge of its own (10.226.0.1/16) and user networks under
10.227.0.0/16; host ports are 15600-15649 (net2's range); nothing leaves the machine.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from tests.e2e.daemon.harness import Daemon, leftover_cgroups, network_leftovers, short_root
from tests.e2e.network.helpers import fetch as _fetch
from tests.e2e.network.helpers import ok as _ok

HTTPD = ["sh", "-c", "mkdir -p /w && echo hello-$HOSTNAME > /w/index.html && httpd -f -p 80 -h /w"]
GATEWAY = "10.226.0.1"
PYTHON_MOUNTS = ("-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro")
UDP_CLIENT = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(10):
    s.sendto(b"ping-udp", ("{host}", {port}))
    try:
        print(s.recv(100))
        break
    except OSError:
        pass
"""
UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""


@pytest.fixture(scope="module")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    d = Daemon(short_root(), bip=f"{GATEWAY}/16")
    try:
        d.start()
        loaded = d.docker("load", "-i", str(busybox_tar))
        assert loaded.returncode == 0, loaded.stderr
        yield d
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", *[i.decode() for i in ids])
        for name in d.docker("network", "ls", "-q", "--filter", "type=custom").stdout.split():
            d.docker("network", "rm", name.decode())
        assert leftover_cgroups(d.cgroup_parent) == []
    finally:
        d.cleanup()


def _wget(daemon: Daemon, *run_args: str, url: str) -> subprocess.CompletedProcess[bytes]:
    """``wget -qO- url`` from a new container, retried while the server is coming up."""
    script = (
        "for i in 1 2 3 4 5 6 7 8 9 10; do "
        f"timeout 5 wget -qO- {url} && exit 0; sleep 0.3; done; exit 1"
    )
    return daemon.docker("run", "--rm", *run_args, "busybox", "sh", "-c", script)


def _udp_echo(port: int) -> bytes:
    """Send a datagram to 127.0.0.1:``port`` until the echo comes back (10 s)."""
    reply = b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.5)
        deadline = time.monotonic() + 10
        while not reply and time.monotonic() < deadline:
            client.sendto(b"ping-udp\n", ("127.0.0.1", port))
            try:
                reply = client.recv(100)
            except TimeoutError:
                continue
    return reply


def _no_leftovers(daemon: Daemon) -> None:
    deadline = time.monotonic() + 5
    while network_leftovers(daemon.stem) != [f"nft table {daemon.stem}"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert network_leftovers(daemon.stem) == [f"nft table {daemon.stem}"]
    rules = subprocess.run(
        ["nft", "list", "chain", "ip", daemon.stem, "ports"], capture_output=True, check=True
    ).stdout.decode()
    assert "dnat" not in rules


def test_containers_reach_published_ports_through_the_gateway(daemon: Daemon) -> None:
    """Hairpin: a container reaches a published port at the bridge gateway's address (the
    host's address, as on Docker), from the same bridge, from a user network, and from itself;
    the host reaches it there too."""
    _ok(daemon.docker("network", "create", "--subnet", "10.227.1.0/24", "net-hair"))
    try:
        _ok(
            daemon.docker(
                "run", "-d", "--name", "hsrv", "-p", f"{GATEWAY}:15600:80", "busybox", *HTTPD
            )
        )
        assert _fetch(f"http://{GATEWAY}:15600/").text.startswith("hello-")
        same = _ok(_wget(daemon, url=f"http://{GATEWAY}:15600/"))
        assert same.startswith("hello-")
        other = _ok(_wget(daemon, "--network", "net-hair", url=f"http://{GATEWAY}:15600/"))
        assert other.startswith("hello-")
        itself = _ok(
            daemon.docker(
                "exec", "hsrv", "timeout", "5", "wget", "-qO-", f"http://{GATEWAY}:15600/"
            )
        )
        assert itself.startswith("hello-")
        # The same on a user network: its published port, reached through its own gateway.
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "hsrv2",
                "--network",
                "net-hair",
                "-p",
                "10.227.1.1:15601:80",
                "busybox",
                *HTTPD,
            )
        )
        mine = _ok(_wget(daemon, "--network", "net-hair", url="http://10.227.1.1:15601/"))
        assert mine.startswith("hello-")
        # A port published on every address (``-p 15603:80``) is reached through any
        # gateway, as Docker's containers reach ``host-ip:port``.
        _ok(daemon.docker("run", "-d", "--name", "hsrv3", "-p", "15603:80", "busybox", *HTTPD))
        for run_args, gateway in (((), GATEWAY), (("--network", "net-hair"), "10.227.1.1")):
            via = _ok(_wget(daemon, *run_args, url=f"http://{gateway}:15603/"))
            assert via.startswith("hello-")
    finally:
        daemon.docker("rm", "-f", "hsrv", "hsrv2", "hsrv3")
        daemon.docker("network", "rm", "net-hair")
    _no_leftovers(daemon)


def test_udp_published_port_reachable_on_loopback(daemon: Daemon) -> None:
    """A published UDP port answers on 127.0.0.1 (the userland UDP proxy) and goes away."""
    # busybox has no UDP server: the host's python3, mounted read-only, echoes datagrams.
    _ok(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "usrv",
            "-p",
            "127.0.0.1:15602:5353/udp",
            "-p",
            f"{GATEWAY}:15604:5353/udp",
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/lib:/lib:ro",
            "-v",
            "/lib64:/lib64:ro",
            "busybox",
            "/usr/bin/python3",
            "-c",
            UDP_ECHO,
        )
    )
    try:
        assert sorted(_ok(daemon.docker("port", "usrv")).splitlines()) == [
            f"5353/udp -> {GATEWAY}:15604",
            "5353/udp -> 127.0.0.1:15602",
        ]
        assert _udp_echo(15602) == b"ping-udp\n"
        # Another container reaches it through the gateway (DNAT from the bridge, hairpin).
        client = daemon.docker(
            "run",
            "--rm",
            *PYTHON_MOUNTS,
            "busybox",
            "/usr/bin/python3",
            "-c",
            UDP_CLIENT.format(host=GATEWAY, port=15604),
        )
        assert _ok(client).strip() == "b'ping-udp'", client
    finally:
        _ok(daemon.docker("rm", "-f", "usrv"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 15602))  # released
    _no_leftovers(daemon)


def _octal(data: bytes) -> str:
    return "".join(f"\\{b:03o}" for b in data)


def test_embedded_resolver_at_127_0_0_11(daemon: Daemon) -> None:
    """On a user network, /etc/resolv.conf names 127.0.0.11 and the resolver there answers
    A (names and aliases), empty AAAA, PTR, NXDOMAIN-free for known names, over UDP and TCP;
    the container's own port 53 stays free."""
    _ok(daemon.docker("network", "create", "--internal", "--subnet", "10.227.2.0/24", "net-dns"))
    try:
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "dsrv",
                "--network",
                "net-dns",
                "--network-alias",
                "backend",
                "busybox",
                "sleep",
                "100",
            )
        )
        srv_ip = _ok(
            daemon.docker(
                "inspect", "-f", '{{(index .NetworkSettings.Networks "net-dns").IPAddress}}', "dsrv"
            )
        ).strip()
        _ok(
            daemon.docker(
                "run", "-d", "--name", "dcli", "--network", "net-dns", "busybox", "sleep", "100"
            )
        )
        resolv = _ok(daemon.docker("exec", "dcli", "cat", "/etc/resolv.conf"))
        assert "nameserver 127.0.0.11" in resolv
        assert "options ndots:0" in resolv
        for name in ("dsrv", "backend", "DSRV"):
            out = _ok(daemon.docker("exec", "dcli", "nslookup", "-type=a", name))
            assert f"Address: {srv_ip}" in out, out
        aaaa = daemon.docker("exec", "dcli", "nslookup", "-type=aaaa", "dsrv")
        assert srv_ip not in aaaa.stdout.decode()
        assert b"NXDOMAIN" not in aaaa.stdout + aaaa.stderr
        ptr = _ok(daemon.docker("exec", "dcli", "nslookup", srv_ip))
        assert "dsrv.net-dns" in ptr, ptr
        # TCP: one length-prefixed query written with nc.
        query = dns.message.make_query("backend", "A").to_wire()
        framed = len(query).to_bytes(2, "big") + query
        raw = _ok(
            daemon.docker(
                "exec",
                "dcli",
                "sh",
                "-c",
                f"printf '{_octal(framed)}' | nc -w 3 127.0.0.11 53 | od -An -v -tx1",
            )
        )
        wire = bytes.fromhex("".join(raw.split()))
        reply = dns.message.from_wire(wire[2:])
        assert reply.rcode() == dns.rcode.NOERROR
        assert [r.address for r in reply.answer[0]] == [srv_ip]
        # A container joining dcli's namespace shares its resolver.
        joined = _ok(
            daemon.docker(
                "run", "--rm", "--network", "container:dcli", "busybox", "nslookup", "backend"
            )
        )
        assert f"Address: {srv_ip}" in joined, joined
        # The container's own port 53 is free (the resolver is on another port of 127.0.0.11).
        _ok(daemon.docker("exec", "-d", "dcli", "nc", "-lu", "-p", "53"))
        # The default bridge keeps the host's resolvers.
        plain = _ok(daemon.docker("run", "--rm", "busybox", "cat", "/etc/resolv.conf"))
        assert "127.0.0.11" not in plain
    finally:
        daemon.docker("rm", "-f", "dsrv", "dcli")
        daemon.docker("network", "rm", "net-dns")
    _no_leftovers(daemon)


def test_host_port_range_takes_the_first_free_port(daemon: Daemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 15610))
        taken.listen(1)
        _ok(
            daemon.docker(
                "run", "-d", "--name", "ranged", "-p", "127.0.0.1:15610-15612:80", "busybox", *HTTPD
            )
        )
        try:
            assert _ok(daemon.docker("port", "ranged")).strip() == "80/tcp -> 127.0.0.1:15611"
            assert _fetch("http://127.0.0.1:15611/").text.startswith("hello-")
            _ok(
                daemon.docker(
                    "run",
                    "-d",
                    "--name",
                    "ranged2",
                    "-p",
                    "127.0.0.1:15610-15612:80",
                    "busybox",
                    *HTTPD,
                )
            )
            assert _ok(daemon.docker("port", "ranged2")).strip() == "80/tcp -> 127.0.0.1:15612"
            full = daemon.docker(
                "run",
                "-d",
                "--name",
                "ranged3",
                "-p",
                "127.0.0.1:15610-15612:80",
                "busybox",
                *HTTPD,
            )
            assert full.returncode != 0
            assert b"127.0.0.1:15610-15612/tcp failed: all ports are allocated" in full.stderr
        finally:
            daemon.docker("rm", "-f", "ranged", "ranged2", "ranged3")
    _no_leftovers(daemon)


def test_removing_a_network_named_only_by_stopped_containers(daemon: Daemon) -> None:
    """As on Docker: only active endpoints refuse the removal; the stopped container keeps its
    config and fails to start with ``network X not found``."""
    _ok(daemon.docker("network", "create", "--subnet", "10.227.3.0/24", "net-gone"))
    try:
        _ok(
            daemon.docker(
                "run", "-d", "--name", "stopper", "--network", "net-gone", "busybox", "sleep", "100"
            )
        )
        busy = daemon.docker("network", "rm", "net-gone")
        assert busy.returncode != 0
        assert b"has active endpoints (stopper)" in busy.stderr
        _ok(daemon.docker("stop", "-t", "0", "stopper"))
        _ok(daemon.docker("network", "rm", "net-gone"))
        start = daemon.docker("start", "stopper")
        assert start.returncode != 0
        assert b"network net-gone not found" in start.stderr, start.stderr
        mode = _ok(daemon.docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", "stopper"))
        assert mode.strip() == "net-gone"
    finally:
        daemon.docker("rm", "-f", "stopper")
        daemon.docker("network", "rm", "net-gone")
    _no_leftovers(daemon)


def test_internal_network_is_isolated(daemon: Daemon) -> None:
    """``--internal``: neighbours reach each other; no default route, no way to other
    networks or out; published ports are not set up."""
    _ok(daemon.docker("network", "create", "--internal", "--subnet", "10.227.4.0/24", "net-int"))
    try:
        _ok(daemon.docker("run", "-d", "--name", "outside", "busybox", *HTTPD))
        outside_ip = _ok(
            daemon.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "outside")
        ).strip()
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "inner",
                "--network",
                "net-int",
                "-p",
                "127.0.0.1:15620:80",
                "busybox",
                *HTTPD,
            )
        )
        assert _ok(daemon.docker("port", "inner")).strip() == ""
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 15620))  # not published
        assert _ok(_wget(daemon, "--network", "net-int", url="http://inner/")).startswith("hello-")
        routes = _ok(daemon.docker("run", "--rm", "--network", "net-int", "busybox", "ip", "route"))
        assert "default" not in routes
        assert "10.227.4.0/24" in routes
        far = daemon.docker(
            "run",
            "--rm",
            "--network",
            "net-int",
            "busybox",
            "wget",
            "-qO-",
            "-T",
            "2",
            f"http://{outside_ip}/",
        )
        assert far.returncode != 0
        rules = subprocess.run(
            ["nft", "list", "chain", "ip", daemon.stem, "forward"], capture_output=True, check=True
        ).stdout.decode()
        assert "drop" in rules
        # A container on the default bridge still reaches its neighbour.
        assert _ok(_wget(daemon, url=f"http://{outside_ip}/")).startswith("hello-")
    finally:
        daemon.docker("rm", "-f", "outside", "inner")
        daemon.docker("network", "rm", "net-int")
    _no_leftovers(daemon)


def test_resolver_and_udp_proxy_survive_a_daemon_kill9(daemon: Daemon) -> None:
    """After kill -9 and a restart, a running container's resolver answers again on the same
    127.0.0.11 redirect, and its UDP port is relayed again."""
    _ok(daemon.docker("network", "create", "--subnet", "10.227.5.0/24", "net-kill"))
    try:
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "kudp",
                "--network",
                "net-kill",
                "-p",
                "127.0.0.1:15630:5353/udp",
                "-v",
                "/usr:/usr:ro",
                "-v",
                "/lib:/lib:ro",
                "-v",
                "/lib64:/lib64:ro",
                "busybox",
                "/usr/bin/python3",
                "-c",
                UDP_ECHO,
            )
        )
        assert _udp_echo(15630) == b"ping-udp\n"
        kudp_ip = _ok(
            daemon.docker(
                "inspect",
                "-f",
                '{{(index .NetworkSettings.Networks "net-kill").IPAddress}}',
                "kudp",
            )
        ).strip()
        daemon.kill9()
        daemon.start()
        assert _udp_echo(15630) == b"ping-udp\n"
        out = _ok(daemon.docker("exec", "kudp", "/bin/busybox", "nslookup", "-type=a", "kudp"))
        assert f"Address: {kudp_ip}" in out, out
    finally:
        daemon.docker("rm", "-f", "kudp")
        daemon.docker("network", "rm", "net-kill")
    _no_leftovers(daemon)
