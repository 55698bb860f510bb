"""IPAM, nft rendering, hosts/resolv.conf contents and the create body's network fields."""

from __future__ import annotations

import ipaddress

import pytest

from wharf.apitypes import ContainerCreate
from wharf.errors import Conflict, InvalidArgument, Unavailable
from wharf.network import allocate_address, check_overlap, hosts_file, parse_subnet, resolv_conf
from wharf.network.nft import Bridge, Dnat, render_resolver_redirect, render_table


def test_parse_subnet_defaults_gateway_and_rejects_bad_input() -> None:
    net, gw = parse_subnet("10.5.0.0/24")
    assert (str(net), gw) == ("10.5.0.0/24", "10.5.0.1")
    assert parse_subnet("10.5.0.0/24", "10.5.0.254")[1] == "10.5.0.254"
    for subnet, gateway in [
        ("10.5.0.1/24", ""),
        ("banana", ""),
        ("10.5.0.0/31", ""),
        ("10.5.0.0/24", "10.6.0.1"),
        ("10.5.0.0/24", "10.5.0.255"),
    ]:
        with pytest.raises(InvalidArgument):
            parse_subnet(subnet, gateway)


def test_overlap_is_a_conflict() -> None:
    check_overlap(ipaddress.IPv4Network("10.6.0.0/16"), ["10.5.0.0/16"])
    with pytest.raises(Conflict, match="overlaps"):
        check_overlap(ipaddress.IPv4Network("10.5.3.0/24"), ["10.5.0.0/16"])


def test_allocate_address_lowest_free_wanted_and_full() -> None:
    net = ipaddress.IPv4Network("10.7.0.0/29")
    assert allocate_address(net, "10.7.0.1", []) == "10.7.0.2"
    assert allocate_address(net, "10.7.0.1", ["10.7.0.2"]) == "10.7.0.3"
    assert allocate_address(net, "10.7.0.1", [], "10.7.0.5") == "10.7.0.5"
    with pytest.raises(Conflict):
        allocate_address(net, "10.7.0.1", ["10.7.0.5"], "10.7.0.5")
    with pytest.raises(InvalidArgument):
        allocate_address(net, "10.7.0.1", [], "10.8.0.5")
    used = [f"10.7.0.{i}" for i in range(2, 7)]
    with pytest.raises(Unavailable):
        allocate_address(net, "10.7.0.1", used)


def test_nft_table_has_masquerade_and_dnat_rules() -> None:
    script = render_table(
        "net-t",
        [Bridge("10.88.0.0/16", "net-t0"), Bridge("10.89.0.0/24", "net-tbi", internal=True)],
        [Dnat("tcp", "127.0.0.1", 8080, "10.88.0.2", 80), Dnat("udp", "", 53, "10.88.0.3", 53)],
    )
    assert script.startswith("table ip net-t {}\ndelete table ip net-t\n")
    assert 'ip saddr 10.88.0.0/16 oifname != "net-t0" masquerade' in script
    # Hairpin: a DNATed packet going back out of the bridge it came from is masqueraded.
    assert 'ct status dnat ip saddr 10.88.0.0/16 oifname "net-t0" masquerade' in script
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.88.0.2:80" in script
    assert "    udp dport 53 dnat to 10.88.0.3:53" in script
    # An internal bridge: no masquerade, nothing forwarded to or from other links.
    assert "ip saddr 10.89.0.0/24 oifname" not in script
    assert 'iifname "net-tbi" oifname != "net-tbi" drop' in script
    assert 'oifname "net-tbi" iifname != "net-tbi" drop' in script
    # Container addresses are reached by their bridge or not at all.
    assert 'ip daddr 10.88.0.0/16 oifname != { "net-t0", "lo" } drop' in script
    assert 'ip daddr 10.89.0.0/24 oifname != { "net-tbi", "lo" } drop' in script


def test_resolver_redirect_rules() -> None:
    script = render_resolver_redirect("net-t", 40001, 40002)
    assert "ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001" in script
    assert "ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002" in script


def test_hosts_and_resolv_conf() -> None:
    hosts = hosts_file([("10.1.0.2", ["web", "abc"]), ("10.1.0.3", [])])
    assert hosts.startswith("127.0.0.1\tlocalhost\n")
    assert hosts.endswith("10.1.0.2\tweb abc\n")
    host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\noptions ndots:2\n"
    assert resolv_conf(host) == "nameserver 10.0.0.2\nsearch corp\noptions ndots:2\n"
    assert resolv_conf(host, dns=["1.1.1.1"], search=["x"]).splitlines()[:2] == [
        "nameserver 1.1.1.1",
        "search x",
    ]
    assert resolv_conf("nameserver 127.0.0.1\n").startswith("nameserver 8.8.8.8")
    assert resolv_conf(host, embedded=True) == (
        "nameserver 127.0.0.11\nsearch corp\noptions ndots:0\n"
    )
    assert resolv_conf(host, dns=["1.1.1.1"], options=["ndots:3"], embedded=True) == (
        "nameserver 127.0.0.11\nsearch corp\noptions ndots:3\n"
    )


def _create(host: dict[str, object], **body: object) -> ContainerCreate:
    return ContainerCreate.from_json({"Image": "busybox", "HostConfig": host, **body})


def test_create_body_network_fields_round_trip() -> None:
    spec = _create(
        {
            "NetworkMode": "net-app",
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "ExtraHosts": ["db:10.0.0.9"],
            "Mounts": [{"Type": "tmpfs", "Target": "/t"}],
            "VolumesFrom": ["other:ro"],
        },
        NetworkingConfig={"EndpointsConfig": {"net-app": {"Aliases": ["web"]}}},
    )
    net = spec.networking
    assert net.port_bindings[0].key == "80/tcp"
    assert net.port_bindings[0].host_port == 8080
    assert net.endpoints["net-app"].aliases == ("web",)
    again = ContainerCreate.from_json(spec.to_json())
    assert again.networking == spec.networking
    assert again.host_config.network_mode == "net-app"


def test_create_body_host_port_range_round_trips() -> None:
    spec = _create({"PortBindings": {"80/tcp": [{"HostPort": "15600-15605"}]}})
    binding = spec.networking.port_bindings[0]
    assert (binding.host_port, binding.host_port_end) == (15600, 15605)
    assert spec.to_json()["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "15600-15605"}]
    }


@pytest.mark.parametrize(
    "host",
    [
        {"NetworkMode": "container:"},
        {"NetworkMode": "bad mode"},
        {"PortBindings": {"80/sctp": []}},
        {"PortBindings": {"http": []}},
        {"PortBindings": {"80/tcp": [{"HostPort": "70000"}]}},
        {"PortBindings": {"80/tcp": [{"HostPort": "x"}]}},
        {"PortBindings": {"80/tcp": [{"HostPort": "9002-9000"}]}},
        {"PortBindings": {"80/tcp": [{"HostPort": "9000-"}]}},
        {"PortBindings": {"80/tcp": [{"HostPort": "9000-70000"}]}},
        {"ExtraHosts": ["nocolon"]},
        {"Mounts": [{"Type": "nfs", "Target": "/x"}]},
        {"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/x"}]},
        {"Mounts": [{"Type": "volume", "Target": "rel"}]},
    ],
)
def test_create_body_bad_network_fields(host: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        _create(host)


def test_parse_publish_forms_and_ranges() -> None:
    from wharf.apitypes.networks import PortBinding, parse_publish

    assert parse_publish("80") == [PortBinding(80, "tcp")]
    assert parse_publish("8080:80") == [PortBinding(80, "tcp", "", 8080)]
    assert parse_publish("127.0.0.1:8080:80/udp") == [PortBinding(80, "udp", "127.0.0.1", 8080)]
    assert parse_publish("127.0.0.1::80") == [PortBinding(80, "tcp", "127.0.0.1", 0)]
    assert parse_publish("9000-9001:80-81") == [
        PortBinding(80, "tcp", "", 9000),
        PortBinding(81, "tcp", "", 9001),
    ]
    # A host range for one container port: the daemon picks the first free one.
    assert parse_publish("9000-9005:80") == [PortBinding(80, "tcp", "", 9000, 9005)]


@pytest.mark.parametrize(
    "spec", ["", "x", "0", "70000", "80/sctp", "1.2.3:80:80", "9000-9002:80-81", "9-8:80"]
)
def test_parse_publish_rejects(spec: str) -> None:
    from wharf.apitypes.networks import parse_publish

    with pytest.raises(InvalidArgument):
        parse_publish(spec)


def test_parse_mount_flag() -> None:
    from wharf.apitypes.networks import parse_mount_flag

    m = parse_mount_flag("type=bind,source=/a,target=/b,readonly")
    assert (m.type, m.source, m.target, m.read_only) == ("bind", "/a", "/b", True)
    assert parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1024").tmpfs_size == 1024
    for bad in ("type=bind,target=/b", "target=/b,colour=red", "type=nfs,target=/x"):
        with pytest.raises(InvalidArgument):
            parse_mount_flag(bad)
