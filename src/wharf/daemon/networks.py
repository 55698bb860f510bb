"""The network service: networks, container sandboxes and endpoints, published ports.

State (``<data-root>/network/state.json``, rewritten by rename): the user-defined networks and,
per container with a sandbox, its endpoints and published ports. Kernel objects follow the
state: a sandbox (netns file ``<exec-root>/netns/<id>``) exists from the container's runtime
set-up (create or start) to its exit; the nft table is rewritten whole after each change; the
userland proxies live in the daemon. At start-up :meth:`reconcile` removes namespaces, links and
rules left by a daemon that was killed, keeping those of containers still running.

Name resolution (each container's hosts/resolv.conf/hostname files, and the embedded resolver
at ``127.0.0.11`` of those on user networks) is :mod:`wharf.daemon.netnames`, over this
service's networks and sandboxes.

A network can be removed while stopped containers still name it (as in Docker, only active
endpoints refuse); such a container then fails to start with ``network X not found``.

Concurrency: everything runs on the event loop thread.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import ipaddress
import json
import logging
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wharf import network as net
from wharf.apitypes import Filters
from wharf.apitypes.networks import PortBinding
from wharf.daemon.netnames import ContainerNames
from wharf.daemon.ports import ImageRecord
from wharf.daemon.store import ContainerRecord, ContainerStore
from wharf.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    WharfError,
)
from wharf.network.model import (
    PREDEFINED,
    Endpoint,
    Sandbox,
    endpoint_json,
    match,
    now,
    settings_json,
    stable_id,
    summary_ports,
)

__all__ = ["NetworkConfig", "NetworkService"]

log = logging.getLogger("wharf.daemon.networks")


@dataclass(frozen=True)
class NetworkConfig:
    """Where networking state lives and the default bridge's name and address."""

    data_root: Path
    exec_root: Path
    bridge: str = "wharf0"
    bip: str = "10.88.0.1/16"

    @property
    def stem(self) -> str:
        """Prefix of every link and of the nft table: ``wharf`` for ``wharf0``."""
        return (
            self.bridge[:-1] if self.bridge.endswith("0") and len(self.bridge) > 1 else self.bridge
        )


class NetworkService:
    """Networks (``/networks`` routes) and per-container network set-up."""

    def __init__(self, config: NetworkConfig, containers: ContainerStore) -> None:
        self.config = config
        self.containers = containers
        self._dir = config.data_root / "network"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._netns_dir = config.exec_root / "netns"
        self._netns_dir.mkdir(parents=True, exist_ok=True)
        files_dir = self._dir / "files"
        files_dir.mkdir(exist_ok=True)
        self.networks: dict[str, dict[str, Any]] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self._proxies: dict[str, builtins.list[net.TcpProxy | net.UdpProxy]] = {}
        self._default_ready = False
        self.names = ContainerNames(self, containers, files_dir, config.stem)
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wharf-veth-reaper")
        self._load()
        subnet, gateway = net.parse_subnet(
            str(ipaddress.IPv4Interface(config.bip).network), config.bip.split("/")[0]
        )
        self._default = {
            "Name": "bridge",
            "Id": stable_id("bridge" + config.bridge),
            "Created": now(),
            "Driver": "bridge",
            "Subnet": str(subnet),
            "Gateway": gateway,
            "Bridge": config.bridge,
            "Internal": False,
            "Attachable": False,
            "Labels": {},
            "Options": {"com.docker.network.bridge.default_bridge": "true"},
        }

    # ---- state -------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads((self._dir / "state.json").read_text())
        except FileNotFoundError:
            return
        self.networks = data.get("networks", {})
        self.sandboxes = {
            s["container_id"]: Sandbox.from_json(s) for s in data.get("sandboxes", [])
        }

    def _save(self) -> None:
        tmp = self._dir / "state.json.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "networks": self.networks,
                    "sandboxes": [s.to_json() for s in self.sandboxes.values()],
                }
            )
        )
        tmp.rename(self._dir / "state.json")

    def _all(self) -> builtins.list[dict[str, Any]]:
        return [
            self._default,
            {**self._default, "Name": "host", "Id": stable_id("host"), "Driver": "host"},
            {**self._default, "Name": "none", "Id": stable_id("none"), "Driver": "null"},
            *self.networks.values(),
        ]

    def resolve(self, ref: str) -> dict[str, Any]:
        """A network by name, full id or id prefix.

        Raises:
            NotFound: no such network.
        """
        if ref == "default":
            ref = "bridge"
        candidates = self._all()
        for n in candidates:
            if ref in (n["Name"], n["Id"]):
                return n
        matches = [n for n in candidates if ref and n["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {ref} not found")

    # ---- networks API --------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /networks/create``.

        Raises:
            InvalidArgument: bad name, driver or IPAM config.
            Conflict: the name exists or the subnet overlaps another network's.
        """
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("Name: a network needs a name")
        if name in PREDEFINED:
            raise FailedPrecondition(f"{name} is a pre-defined network and cannot be created")
        if any(n["Name"] == name for n in self.networks.values()):
            raise Conflict(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise InvalidArgument(
                f"network {name}: driver {driver!r} is not supported; expected bridge"
            )
        ipam = body.get("IPAM") or {}
        configs = ipam.get("Config") or [] if isinstance(ipam, dict) else None
        if not isinstance(configs, list) or len(configs) > 1:
            raise InvalidArgument(f"network {name}: IPAM.Config: expected at most one subnet")
        taken = [n["Subnet"] for n in self._all()[:1]] + [
            n["Subnet"] for n in self.networks.values()
        ]
        if configs and isinstance(configs[0], dict) and configs[0].get("Subnet"):
            subnet, gateway = net.parse_subnet(
                str(configs[0]["Subnet"]), str(configs[0].get("Gateway") or "")
            )
            net.check_overlap(subnet, taken)
        else:
            subnet = net.pick_subnet(taken)
            gateway = str(subnet.network_address + 1)
        network_id = secrets.token_hex(32)
        labels = body.get("Labels") or {}
        options = body.get("Options") or {}
        if not isinstance(labels, dict) or not isinstance(options, dict):
            raise InvalidArgument(f"network {name}: Labels and Options must be objects")
        record: dict[str, Any] = {
            "Name": name,
            "Id": network_id,
            "Created": now(),
            "Driver": "bridge",
            "Subnet": str(subnet),
            "Gateway": gateway,
            "Bridge": f"{self.config.stem[:7]}b{network_id[:7]}",
            "Internal": bool(body.get("Internal")),
            "Attachable": bool(body.get("Attachable")),
            "Labels": {str(k): str(v) for k, v in labels.items()},
            "Options": {str(k): str(v) for k, v in options.items()},
        }
        net.ensure_bridge(record["Bridge"], subnet, gateway)
        self.networks[network_id] = record
        self._save()
        self._apply_rules()
        return {"Id": network_id, "Warning": ""}

    def members(self, network_id: str) -> builtins.list[tuple[Sandbox, Endpoint]]:
        """(sandbox, endpoint) of every container with an endpoint on ``network_id``."""
        return [
            (s, e)
            for s in self.sandboxes.values()
            for e in s.endpoints
            if e.network_id == network_id
        ]

    def inspect(self, ref: str) -> dict[str, Any]:
        """``GET /networks/{id}``."""
        n = self.resolve(ref)
        subnet = ipaddress.IPv4Network(n["Subnet"])
        containers = {
            s.container_id: {
                "Name": s.name,
                "EndpointID": e.endpoint_id,
                "MacAddress": "",
                "IPv4Address": f"{e.address}/{subnet.prefixlen}",
                "IPv6Address": "",
            }
            for s, e in self.members(n["Id"])
        }
        ipam_config = (
            [{"Subnet": n["Subnet"], "Gateway": n["Gateway"]}] if n["Driver"] == "bridge" else []
        )
        return {
            "Name": n["Name"],
            "Id": n["Id"],
            "Created": n["Created"],
            "Scope": "local",
            "Driver": n["Driver"],
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": ipam_config},
            "Internal": n["Internal"],
            "Attachable": n["Attachable"],
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": n["Options"],
            "Labels": n["Labels"],
        }

    def list(self, filters: Filters) -> builtins.list[dict[str, Any]]:
        """``GET /networks`` with filters name, id, driver, label, type."""
        for key in filters:
            if key not in ("name", "id", "driver", "label", "type", "dangling"):
                raise InvalidArgument(f"invalid filter {key!r}")
        out = []
        for n in self._all():
            if not match(n, filters):
                continue
            out.append(self.inspect(n["Id"]))
        return out

    def remove(self, ref: str) -> None:
        """``DELETE /networks/{id}``.

        Raises:
            FailedPrecondition: a predefined network.
            Conflict: containers are attached (running ones: stopped ones do not count).
        """
        n = self.resolve(ref)
        if n["Name"] in PREDEFINED:
            raise FailedPrecondition(f"{n['Name']} is a pre-defined network and cannot be removed")
        users = [s.name for s, _ in self.members(n["Id"])]
        if users:
            raise Conflict(
                f"error while removing network: network {n['Name']} id {n['Id']} has active "
                f"endpoints ({', '.join(sorted(users))})"
            )
        net.delete_link(n["Bridge"])
        del self.networks[n["Id"]]
        self._save()
        self._apply_rules()

    def prune(self) -> builtins.list[str]:
        """Remove user networks no container uses; their names."""
        removed = []
        for n in list(self.networks.values()):
            with contextlib.suppress(Conflict):
                self.remove(n["Id"])
                removed.append(n["Name"])
        return removed

    # ---- containers --------------------------------------------------------------------------

    def _requested(
        self, record: ContainerRecord
    ) -> builtins.list[tuple[dict[str, Any], builtins.list[str], str]]:
        """(network, aliases, wanted address) the container joins at start."""
        mode = record.spec.host_config.network_mode
        endpoints = record.spec.networking.endpoints
        out = []
        primary = self.resolve("bridge" if mode == "default" else mode)
        wanted = endpoints.get(primary["Name"]) or endpoints.get(mode)
        out.append(
            (
                primary,
                list(wanted.aliases) if wanted else [],
                wanted.ipv4_address if wanted else "",
            )
        )
        for key, endpoint in endpoints.items():
            other = self.resolve(key)
            if other["Id"] != primary["Id"] and other["Driver"] == "bridge":
                out.append((other, list(endpoint.aliases), endpoint.ipv4_address))
        extra = [n for n in self.networks.values() if record.id in n.get("Connected", [])]
        out += [(n, [], "") for n in extra if all(n["Id"] != o[0]["Id"] for o in out)]
        return out

    def check(self, record: ContainerRecord, image: ImageRecord) -> None:
        """Validate a new container's network mode and networks (InvalidArgument)."""
        mode = record.spec.host_config.network_mode
        if mode.startswith("container:"):
            self.containers.get(mode.removeprefix("container:"))
            if record.spec.networking.port_bindings:
                raise InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                )
            return
        # An unknown network is the request's fault (400), not a 404: the docker CLI reads a
        # 404 from create as "no such image" and would try to pull the image first.
        try:
            self.resolve("bridge" if mode == "default" else mode)
            for key in record.spec.networking.endpoints:
                self.resolve(key)
        except NotFound as exc:
            raise InvalidArgument(str(exc)) from exc

    def prepare(
        self, record: ContainerRecord, spec: dict[str, Any], image: ImageRecord
    ) -> builtins.list[dict[str, Any]]:
        """Set up the container's sandbox; point ``spec`` at it; return the OCI mounts of its
        ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname``.

        Raises:
            PortInUse: a host port is taken (nothing is left configured).
            NotFound: the network or the ``container:`` target does not exist.
            FailedPrecondition: the ``container:`` target is not running.
        """
        self.release(record.id)
        mode = record.spec.host_config.network_mode
        namespaces = spec["linux"]["namespaces"]
        if mode == "host":
            spec["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "network"]
            return self.names.write_files(record, spec, [], host=True)
        if mode.startswith("container:"):
            other = self.containers.get(mode.removeprefix("container:"))
            sandbox = self.sandboxes.get(other.id)
            if other.status not in ("running", "paused") or not other.pid:
                raise FailedPrecondition(
                    f"cannot join network of a non running container: {other.name}"
                )
            path = sandbox.path if sandbox is not None else f"/proc/{other.pid}/ns/net"
            _set_netns(spec, path)
            return self.names.write_files(record, spec, [], host=False, share=other.id)
        path = str(self._netns_dir / record.id)
        sandbox = Sandbox(container_id=record.id, name=record.name, path=path)
        requested = [] if mode == "none" else self._requested(record)
        sockets: builtins.list[tuple[socket.socket, socket.socket]] = []
        wants_resolver = any(n["Id"] in self.networks for n, _, _ in requested)
        try:
            self.sandboxes[record.id] = sandbox
            setup = functools.partial(self.names.bind_resolver, sockets, 0, 0)
            inside = net.new_sandbox(path, setup if wants_resolver else None)
            routed = False
            try:
                for network, aliases, wanted in requested:
                    route = not routed and not network["Internal"]
                    routed = routed or route
                    self._join(sandbox, network, aliases, wanted, inside, primary=route)
            finally:
                inside.close()
            if sockets:
                self.names.serve_resolver(record, sandbox, *sockets[0])
            if requested and not requested[0][0]["Internal"]:
                sandbox.ports = self._publish(record, image, sandbox)
            self._save()
            if sandbox.ports:
                self._apply_rules()
            self.names.refresh_hosts(sandbox)
        except BaseException:
            for pair in sockets:
                for sock in pair:
                    sock.close()
            self.release(record.id)
            raise
        _set_netns(spec, path)
        return self.names.write_files(record, spec, sandbox.endpoints, host=False)

    def _new_endpoint(
        self,
        sandbox: Sandbox,
        network: dict[str, Any],
        aliases: builtins.list[str],
        wanted: str,
    ) -> Endpoint:
        """An endpoint with a free address, recorded in ``sandbox`` (not yet in the kernel)."""
        subnet = ipaddress.IPv4Network(network["Subnet"])
        if network is self._default and not self._default_ready:
            net.ensure_bridge(network["Bridge"], subnet, network["Gateway"])
            self._default_ready = True
        used = [e.address for _, e in self.members(network["Id"])]
        address = net.allocate_address(subnet, network["Gateway"], used, wanted)
        ifname = f"eth{len(sandbox.endpoints)}"
        endpoint = Endpoint(
            network_id=network["Id"],
            ifname=ifname,
            host_ifname=f"{self.config.stem[:7]}v{secrets.token_hex(4)[:7]}",
            address=address,
            aliases=aliases,
        )
        sandbox.endpoints.append(endpoint)
        return endpoint

    def _join(
        self,
        sandbox: Sandbox,
        network: dict[str, Any],
        aliases: builtins.list[str],
        wanted: str,
        inside: net.Rtnl | None = None,
        *,
        primary: bool = False,
    ) -> None:
        """Join ``sandbox`` to ``network`` (``inside``: a socket bound in its namespace)."""
        endpoint = self._new_endpoint(sandbox, network, aliases, wanted)
        try:
            net.attach_endpoint(
                sandbox.path,
                ifname=endpoint.ifname,
                host_ifname=endpoint.host_ifname,
                bridge=network["Bridge"],
                address=endpoint.address,
                prefixlen=ipaddress.IPv4Network(network["Subnet"]).prefixlen,
                gateway=network["Gateway"],
                default_route=primary,
                inside=inside,
            )
        except BaseException:
            sandbox.endpoints.remove(endpoint)
            raise

    def _publish(
        self, record: ContainerRecord, image: ImageRecord, sandbox: Sandbox
    ) -> builtins.list[PortBinding]:
        networking = record.spec.networking
        bindings = list(networking.port_bindings)
        if networking.publish_all:
            exposed = {*record.spec.config.exposed_ports, *(image.config.get("ExposedPorts") or {})}
            bound = {b.key for b in bindings}
            for key in sorted(exposed):
                port, _, proto = key.partition("/")
                if key not in bound and f"{port}/{proto or 'tcp'}" not in bound:
                    bindings.append(PortBinding(int(port), proto or "tcp"))
        target = sandbox.endpoints[0].address
        proxies: builtins.list[net.TcpProxy | net.UdpProxy] = []
        self._proxies[record.id] = proxies
        published = []
        for b in bindings:
            if b.host_port_end:
                sock = net.bind_port_in_range(b.host_ip, b.host_port, b.host_port_end, b.proto)
            else:
                sock = net.bind_port(b.host_ip, b.host_port, b.proto)
            actual = PortBinding(b.port, b.proto, b.host_ip, sock.getsockname()[1])
            published.append(actual)
            proxies.append(_proxy(sock, actual, target))
        return published

    def release(self, container_id: str) -> None:
        """Tear down the container's sandbox, endpoints and ports (nothing there is fine)."""
        for proxy in self._proxies.pop(container_id, []):
            proxy.close()
        self.names.close_resolver(container_id)
        sandbox = self.sandboxes.pop(container_id, None)
        if sandbox is None:
            return
        net.remove_netns(sandbox.path)
        # The namespace's end takes its veths with it; deleting the host ends too (in case
        # something else holds the namespace) is slow, so it happens off the reply path.
        self._reaper.submit(net.delete_links, [e.host_ifname for e in sandbox.endpoints])
        self._save()
        if sandbox.ports:
            with contextlib.suppress(WharfError):
                self._apply_rules()
        for endpoint in sandbox.endpoints:
            self.names.refresh_network(endpoint.network_id)

    def removed(self, record: ContainerRecord, volumes: bool) -> None:
        """Forget a removed container."""
        container_id = record.id
        self.release(container_id)
        for n in self.networks.values():
            if container_id in n.get("Connected", []):
                n["Connected"].remove(container_id)
        self._save()
        with contextlib.suppress(OSError):
            self.names.forget(container_id)

    def connect(self, ref: str, container_ref: str, aliases: builtins.list[str]) -> None:
        """``POST /networks/{id}/connect``: join now if running, and on every later start.

        Raises:
            Conflict: already connected.
            FailedPrecondition: the container's network mode cannot join networks.
        """
        n = self.resolve(ref)
        container = self.containers.get(container_ref)
        if n["Driver"] != "bridge":
            raise FailedPrecondition(f"container cannot be connected to network {n['Name']}")
        mode = container.spec.host_config.network_mode
        if mode in ("host", "none") or mode.startswith("container:"):
            raise FailedPrecondition(
                f"container sharing network namespace with another container or host cannot "
                f"be connected to any other network (network mode {mode})"
            )
        sandbox = self.sandboxes.get(container.id)
        if sandbox is not None and any(e.network_id == n["Id"] for e in sandbox.endpoints):
            raise Conflict(
                f"endpoint with name {container.name} already exists in network {n['Name']}"
            )
        if sandbox is not None:
            self._join(sandbox, n, aliases, "")
            if n["Id"] in self.networks:
                self.names.start_resolver(container, sandbox)
            self._save()
            self.names.refresh_hosts(sandbox)
        if n is not self._default:
            n.setdefault("Connected", []).append(container.id)
            self._save()

    def disconnect(self, ref: str, container_ref: str, *, force: bool) -> None:
        """``POST /networks/{id}/disconnect``."""
        n = self.resolve(ref)
        container = self.containers.get(container_ref)
        sandbox = self.sandboxes.get(container.id)
        endpoint = None
        if sandbox is not None:
            endpoint = next((e for e in sandbox.endpoints if e.network_id == n["Id"]), None)
        connected = container.id in n.get("Connected", [])
        if endpoint is None and not connected:
            raise NotFound(f"container {container.name} is not connected to network {n['Name']}")
        if sandbox is not None and endpoint is not None:
            net.detach_endpoint(sandbox.path, endpoint.ifname)
            sandbox.endpoints.remove(endpoint)
            self.names.refresh_network(n["Id"])
        if connected:
            n["Connected"].remove(container.id)
        self._save()

    # ---- rules, restart ------------------------------------------------------------------------

    def _apply_rules(self) -> None:
        bridges = [
            net.Bridge(n["Subnet"], n["Bridge"], bool(n["Internal"]))
            for n in [self._default, *self.networks.values()]
        ]
        dnats = [
            net.Dnat(p.proto, p.host_ip, p.host_port, s.endpoints[0].address, p.port)
            for s in self.sandboxes.values()
            if s.endpoints
            for p in s.ports
        ]
        net.apply_table(self.config.stem, bridges, dnats)

    def reconcile(self, running: set[str]) -> None:
        """After a daemon (re)start: drop sandboxes of containers not ``running``, stale netns
        files and links, re-open the proxies of the others and rewrite the nft table."""
        for container_id in list(self.sandboxes):
            if container_id not in running:
                self.release(container_id)
        for path in self._netns_dir.iterdir():
            if path.name not in self.sandboxes:
                net.remove_netns(str(path))
        # The default bridge is kept by name: a stem of 8 characters or more ends in the
        # prefix's "v" or "b" when its 8th is one of them ("net-cbab0" starts "net-cba" "b").
        networks = [self._default, *self.networks.values()]
        keep = {e.host_ifname for s in self.sandboxes.values() for e in s.endpoints}
        keep |= {n["Bridge"] for n in networks}
        prefix = self.config.stem[:7]
        for link in net.link_names():
            if link.startswith((prefix + "v", prefix + "b")) and link not in keep:
                net.delete_link(link)
        for n in networks:
            net.ensure_bridge(n["Bridge"], ipaddress.IPv4Network(n["Subnet"]), n["Gateway"])
        self._default_ready = True
        for sandbox in self.sandboxes.values():
            proxies: builtins.list[net.TcpProxy | net.UdpProxy] = []
            self._proxies[sandbox.container_id] = proxies
            for p in sandbox.ports:
                if not sandbox.endpoints:
                    continue
                try:
                    sock = net.bind_port(p.host_ip, p.host_port, p.proto)
                except net.PortInUse as exc:
                    log.warning("container %s: %s", sandbox.container_id, exc)
                    continue
                proxies.append(_proxy(sock, p, sandbox.endpoints[0].address))
            if sandbox.resolver_ports:
                self.names.restore_resolver(sandbox)
        self._save()
        self._apply_rules()

    def close(self) -> None:
        """Stop the proxies and resolvers (the daemon is exiting; containers keep running)."""
        self.names.close()
        self._reaper.shutdown(wait=True)
        for proxies in self._proxies.values():
            for proxy in proxies:
                proxy.close()
        self._proxies.clear()

    # ---- views ----------------------------------------------------------------------------------

    def settings(self, record: ContainerRecord) -> dict[str, Any]:
        """``NetworkSettings`` of container inspect."""
        sandbox = self.sandboxes.get(record.id)
        mode = record.spec.host_config.network_mode
        networks: dict[str, Any] = {}
        ports: dict[str, Any] = {}
        for key in record.spec.config.exposed_ports:
            ports[key if "/" in key else key + "/tcp"] = None
        for b in record.spec.networking.port_bindings:
            ports.setdefault(b.key, None)
        if sandbox is not None:
            for p in sandbox.ports:
                entry = {"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)}
                ports[p.key] = [*(ports.get(p.key) or []), entry]
            for e in sandbox.endpoints:
                n = self.resolve(e.network_id)
                networks[n["Name"]] = endpoint_json(n, e)
        if not networks and not mode.startswith("container:"):
            name = "bridge" if mode == "default" else mode
            with contextlib.suppress(NotFound):
                n = self.resolve(name)
                networks[n["Name"]] = endpoint_json(n, None)
        primary = sandbox.endpoints[0] if sandbox is not None and sandbox.endpoints else None
        default = primary if primary and primary.network_id == self._default["Id"] else None
        return settings_json(sandbox, default, self._default, ports, networks)

    def summary_ports(self, record: ContainerRecord) -> builtins.list[dict[str, Any]]:
        """``Ports`` of a container list entry."""
        sandbox = self.sandboxes.get(record.id)
        return summary_ports(sandbox.ports if sandbox else [], record.spec.config.exposed_ports)


def _set_netns(spec: dict[str, Any], path: str) -> None:
    spec["linux"]["namespaces"] = [
        n for n in spec["linux"]["namespaces"] if n["type"] != "network"
    ] + [{"type": "network", "path": path}]


def _proxy(sock: socket.socket, binding: PortBinding, target: str) -> net.TcpProxy | net.UdpProxy:
    """The userland proxy of a published port, started on the running loop."""
    proxy: net.TcpProxy | net.UdpProxy
    if binding.proto == "tcp":
        proxy = net.TcpProxy(sock, (target, binding.port))
    else:
        proxy = net.UdpProxy(sock, (target, binding.port))
    proxy.start_soon()
    return proxy
