"""Networking with the real docker CLI: published ports, user networks, modes, clean-up."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import httpx
import pytest

from tests.e2e.daemon.harness import Daemon, network_leftovers
from tests.e2e.network.helpers import fetch as _fetch
from tests.e2e.network.helpers import ok as _ok

HTTPD = ["sh", "-c", "mkdir -p /w && echo hello-$HOSTNAME > /w/index.html && httpd -f -p 80 -h /w"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _sandboxes(daemon: Daemon) -> list[str]:
    netns = daemon.root / "netns"
    return sorted(os.listdir(netns)) if netns.exists() else []


def _no_leftovers(daemon: Daemon) -> None:
    # Host veth ends go with their namespace, which the kernel tears down asynchronously.
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
    assert _sandboxes(daemon) == []


def test_published_port_reachable_on_loopback_and_removed(daemon: Daemon) -> None:
    cid = _ok(
        daemon.docker("run", "-d", "--name", "web", "-p", "127.0.0.1:15400:80", "busybox", *HTTPD)
    ).strip()
    try:
        response = _fetch("http://127.0.0.1:15400/")
        assert response.status_code == 200
        assert response.text.startswith("hello-")
        assert _ok(daemon.docker("port", "web")).strip() == "80/tcp -> 127.0.0.1:15400"
        assert "127.0.0.1:15400->80/tcp" in _ok(daemon.docker("ps"))
        ip = _ok(daemon.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).strip()
        assert ip.startswith("10.201.")
        rules = subprocess.run(
            ["nft", "list", "chain", "ip", daemon.stem, "ports"], capture_output=True, check=True
        ).stdout.decode()
        assert f"dnat to {ip}:80" in rules
    finally:
        _ok(daemon.docker("rm", "-f", cid))
    assert _port_free(15400)
    _no_leftovers(daemon)


def test_port_already_in_use_leaves_nothing(daemon: Daemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 15401))
        taken.listen(1)
        proc = daemon.docker(
            "run", "-d", "--name", "clash", "-p", "127.0.0.1:15401:80", "busybox", *HTTPD
        )
        assert proc.returncode != 0
        assert b"port is already allocated" in proc.stderr
        assert b"15401" in proc.stderr
        status = _ok(daemon.docker("inspect", "-f", "{{.State.Status}}", "clash")).strip()
        assert status == "created"
        _no_leftovers(daemon)
    _ok(daemon.docker("rm", "-f", "clash"))


def test_invalid_port_specs_are_refused(daemon: Daemon) -> None:
    for spec in ("99999:80", "127.0.0.1:15402:80/sctp", "abc"):
        proc = daemon.docker("create", "-p", spec, "busybox", "true")
        assert proc.returncode != 0, spec
    assert _ok(daemon.docker("ps", "-aq")) == ""


def test_user_network_resolves_names_and_aliases(daemon: Daemon) -> None:
    _ok(daemon.docker("network", "create", "--subnet", "10.202.0.0/24", "net-app"))
    try:
        _ok(
            daemon.docker(
                "run",
                "-d",
                "--name",
                "srv",
                "--network",
                "net-app",
                "--network-alias",
                "backend",
                "busybox",
                *HTTPD,
            )
        )
        for name in ("srv", "backend"):
            out = _ok(
                daemon.docker(
                    "run",
                    "--rm",
                    "--network",
                    "net-app",
                    "busybox",
                    "timeout",
                    "10",
                    "wget",
                    "-qO-",
                    f"http://{name}/",
                )
            )
            assert out.startswith("hello-")
        # The embedded resolver at 127.0.0.11 answers names and aliases (nslookup asks it;
        # wget above may use /etc/hosts).
        resolv = _ok(
            daemon.docker(
                "run", "--rm", "--network", "net-app", "busybox", "cat", "/etc/resolv.conf"
            )
        )
        assert "nameserver 127.0.0.11" in resolv
        srv_ip = _ok(
            daemon.docker(
                "inspect", "-f", '{{(index .NetworkSettings.Networks "net-app").IPAddress}}', "srv"
            )
        )
        for name in ("srv", "backend"):
            lookup = _ok(
                daemon.docker(
                    "run", "--rm", "--network", "net-app", "busybox", "nslookup", "-type=a", name
                )
            )
            assert srv_ip.strip() in lookup, lookup
        inspect = _ok(daemon.docker("network", "inspect", "-f", "{{json .Containers}}", "net-app"))
        assert '"Name":"srv"' in inspect
        assert "10.202.0." in inspect
        # Overlapping subnets and removing a network in use are refused.
        clash = daemon.docker("network", "create", "--subnet", "10.202.0.128/25", "net-clash")
        assert clash.returncode != 0
        assert b"overlaps" in clash.stderr
        busy = daemon.docker("network", "rm", "net-app")
        assert busy.returncode != 0
        assert b"active endpoints" in busy.stderr
        unknown = daemon.docker("run", "--rm", "--network", "net-nosuch", "busybox", "true")
        assert unknown.returncode != 0
        assert b"net-nosuch not found" in unknown.stderr
        _ok(daemon.docker("rm", "-f", "srv"))
    finally:
        daemon.docker("rm", "-f", "srv")
        daemon.docker("network", "rm", "net-app")
    assert "net-app" not in _ok(daemon.docker("network", "ls"))
    _no_leftovers(daemon)


def test_connect_and_disconnect_running_container(daemon: Daemon) -> None:
    _ok(daemon.docker("network", "create", "net-side"))
    try:
        _ok(daemon.docker("run", "-d", "--name", "hopper", "busybox", "sleep", "100"))
        _ok(daemon.docker("network", "connect", "--alias", "hop", "net-side", "hopper"))
        links = _ok(daemon.docker("exec", "hopper", "ip", "-o", "-4", "addr"))
        assert "eth1" in links
        out = _ok(
            daemon.docker(
                "run", "--rm", "--network", "net-side", "busybox", "ping", "-c1", "-W3", "hop"
            )
        )
        assert "1 packets received" in out
        # Its first user network: names on it now resolve through 127.0.0.11, as on Docker.
        _ok(
            daemon.docker(
                "run", "-d", "--name", "peer", "--network", "net-side", "busybox", "sleep", "100"
            )
        )
        resolv = _ok(daemon.docker("exec", "hopper", "cat", "/etc/resolv.conf"))
        assert "nameserver 127.0.0.11" in resolv
        found = _ok(daemon.docker("exec", "hopper", "nslookup", "peer"))
        peer_ip = _ok(
            daemon.docker(
                "inspect",
                "-f",
                '{{(index .NetworkSettings.Networks "net-side").IPAddress}}',
                "peer",
            )
        )
        assert f"Address: {peer_ip.strip()}" in found
        _ok(daemon.docker("network", "disconnect", "net-side", "hopper"))
        assert "eth1" not in _ok(daemon.docker("exec", "hopper", "ip", "-o", "-4", "addr"))
    finally:
        daemon.docker("rm", "-f", "hopper", "peer")
        daemon.docker("network", "rm", "net-side")
    _no_leftovers(daemon)


def test_network_modes_none_host_and_container(daemon: Daemon) -> None:
    links = _ok(daemon.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"))
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    host = _ok(daemon.docker("run", "--rm", "--network", "host", "busybox", "hostname")).strip()
    assert host == os.uname().nodename
    _ok(daemon.docker("run", "-d", "--name", "owner", "busybox", "sleep", "100"))
    try:
        ip = _ok(daemon.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "owner"))
        shared = _ok(
            daemon.docker(
                "run", "--rm", "--network", "container:owner", "busybox", "ip", "-o", "-4", "addr"
            )
        )
        assert f"inet {ip.strip()}/" in shared
    finally:
        daemon.docker("rm", "-f", "owner")
    _no_leftovers(daemon)


def test_hosts_dns_and_hostname_files(daemon: Daemon) -> None:
    out = _ok(
        daemon.docker(
            "run",
            "--rm",
            "--hostname",
            "box1",
            "--add-host",
            "db.example:10.9.8.7",
            "--dns",
            "10.1.2.3",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hostname; cat /etc/resolv.conf; cat /etc/hosts",
        )
    )
    assert out.splitlines()[:2] == ["box1", "box1"]
    assert "nameserver 10.1.2.3" in out
    assert "10.9.8.7\tdb.example" in out
    assert "\tbox1" in out


def test_publish_all_exposed_ports(daemon: Daemon) -> None:
    cid = _ok(daemon.docker("run", "-d", "-P", "--expose", "80", "busybox", "sleep", "100")).strip()
    try:
        port = _ok(daemon.docker("port", cid, "80/tcp")).strip()
        host_port = int(port.rsplit(":", 1)[1])
        assert host_port > 0
        assert not _port_free(host_port) or port.startswith("0.0.0.0")
    finally:
        _ok(daemon.docker("rm", "-f", cid))
    _no_leftovers(daemon)


def test_daemon_kill9_restart_reconciles(daemon: Daemon) -> None:
    _ok(
        daemon.docker(
            "run", "-d", "--name", "survivor", "-p", "127.0.0.1:15403:80", "busybox", *HTTPD
        )
    )
    _ok(daemon.docker("run", "-d", "--name", "goner", "busybox", "sleep", "100"))
    goner_pid = int(_ok(daemon.docker("inspect", "-f", "{{.State.Pid}}", "goner")))
    daemon.kill9()
    try:
        os.kill(goner_pid, 9)  # exits while the daemon is down
        stale = f"{daemon.stem[:7]}v0000000"
        subprocess.run(
            ["ip", "link", "add", stale, "type", "veth", "peer", "name", stale[:-1] + "1"],
            check=True,
        )
    finally:
        daemon.start()
    try:
        assert stale not in os.listdir("/sys/class/net")
        try:
            reply = _fetch("http://127.0.0.1:15403/")
        except httpx.TransportError as exc:  # say what we saw
            links = subprocess.run(
                ["ip", "-br", "link"], capture_output=True, text=True, check=False
            ).stdout
            log = "\n".join(daemon.log().splitlines()[-60:])
            raise AssertionError(f"survivor unreachable: {exc!r}\n{links}\n{log}") from exc
        assert reply.text.startswith("hello-")
        assert len(_sandboxes(daemon)) == 1
    finally:  # the module's later tests count what is left
        _ok(daemon.docker("rm", "-f", "survivor", "goner"))
    _no_leftovers(daemon)


@pytest.mark.parametrize("mode", ["bridge", "none"])
def test_rm_f_leaves_no_netns_or_links(daemon: Daemon, mode: str) -> None:
    before = len(_sandboxes(daemon))
    ids = [
        _ok(daemon.docker("run", "-d", "--network", mode, "busybox", "sleep", "100")).strip()
        for _ in range(3)
    ]
    assert len(_sandboxes(daemon)) == before + 3
    _ok(daemon.docker("rm", "-f", *ids))
    _no_leftovers(daemon)
