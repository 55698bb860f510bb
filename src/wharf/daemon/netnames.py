"""Container name resolution: the ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname``
files of each container, and the embedded resolver of those on user networks.

Files live in ``<data-root>/network/files/<id>/`` and are bind-mounted into the container;
``hosts`` lists the other containers on its user networks by name, alias and short id and is
rewritten in place whenever a container joins or leaves. A container that starts on a user
network gets a resolver (:mod:`wharf.network.dns`) whose sockets are bound in its namespace on
``127.0.0.11``; it answers from the same view of the networks and forwards other names to the
container's ``--dns`` servers or the host's (not on an internal network). The network service
(``daemon/networks.py``) owns the topology this reads.
"""

from __future__ import annotations

import builtins
import functools
import logging
import os
import socket
from pathlib import Path
from typing import Any, Protocol

from wharf import network as net
from wharf.daemon.store import ContainerRecord, ContainerStore
from wharf.errors import NotFound, Unavailable
from wharf.network.model import Endpoint, Sandbox

__all__ = ["ContainerNames", "Topology"]

log = logging.getLogger("wharf.daemon.netnames")


class Topology(Protocol):
    """What name resolution reads of the network service's state."""

    networks: dict[str, dict[str, Any]]
    sandboxes: dict[str, Sandbox]

    def members(self, network_id: str) -> builtins.list[tuple[Sandbox, Endpoint]]:
        """(sandbox, endpoint) of every container on network ``network_id``."""
        ...


class ContainerNames:
    """Per-container name files and embedded resolvers over a :class:`Topology`."""

    def __init__(
        self, topology: Topology, containers: ContainerStore, files_dir: Path, stem: str
    ) -> None:
        self.topology = topology
        self.containers = containers
        self.files_dir = files_dir
        self.stem = stem
        self.resolvers: dict[str, net.ResolverEndpoint] = {}

    def write_files(
        self,
        record: ContainerRecord,
        spec: dict[str, Any],
        endpoints: builtins.list[Endpoint],
        *,
        host: bool,
        share: str = "",
    ) -> builtins.list[dict[str, Any]]:
        """Write the container's hosts, resolv.conf and hostname files; their OCI mounts.

        ``host``: the host's network (its hostname and resolv.conf, no UTS namespace);
        ``share``: the id of the container whose namespace it joins (its hosts file, and its
        resolv.conf unless ``--dns`` is given: the resolver at 127.0.0.11 is in that namespace).
        """
        directory = self.files_dir / record.id
        directory.mkdir(exist_ok=True)
        hostname = spec.get("hostname") or os.uname().nodename  # none: the host's UTS
        if host:
            hostname = os.uname().nodename
            spec.pop("hostname", None)
            spec["linux"]["namespaces"] = [
                n for n in spec["linux"]["namespaces"] if n["type"] != "uts"
            ]
        networking = record.spec.networking
        try:
            host_resolv = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_resolv = ""
        if host and not networking.dns:
            resolv = host_resolv
        else:
            resolv = net.resolv_conf(
                host_resolv,
                dns=networking.dns,
                search=networking.dns_search,
                options=networking.dns_options,
                embedded=record.id in self.resolvers,
            )
        shared = self.files_dir / share
        if share and not networking.dns and (shared / "resolv.conf").exists():
            resolv = (shared / "resolv.conf").read_text()
        (directory / "resolv.conf").write_text(resolv)
        (directory / "hostname").write_text(hostname + "\n")
        if share and (shared / "hosts").exists():
            (directory / "hosts").write_text((shared / "hosts").read_text())
        else:
            self._write_hosts(record.id, record.name, hostname, endpoints)
        return [
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": str(directory / name),
                "options": ["rbind", "rprivate"],
            }
            for name in ("resolv.conf", "hostname", "hosts")
        ]

    def _write_hosts(
        self, container_id: str, name: str, hostname: str, endpoints: builtins.list[Endpoint]
    ) -> None:
        path = self.files_dir / container_id / "hosts"
        entries: builtins.list[tuple[str, builtins.list[str]]] = []
        own = [hostname] if hostname == container_id[:12] else [hostname, container_id[:12]]
        for endpoint in endpoints:
            entries.append((endpoint.address, own))
            own = []
            network = self.topology.networks.get(endpoint.network_id)
            if network is None:
                continue
            for sandbox, other in self.topology.members(endpoint.network_id):
                if sandbox.container_id == container_id:
                    continue
                names = [sandbox.name, *other.aliases, sandbox.container_id[:12]]
                entries.append((other.address, names))
        for entry in self._extra_hosts(container_id):
            entries.append(entry)
        if not path.parent.exists():
            return
        # In place: the file is bind-mounted into the container.
        with open(path, "w") as f:
            f.write(net.hosts_file(entries))

    def _extra_hosts(self, container_id: str) -> builtins.list[tuple[str, builtins.list[str]]]:
        try:
            record = self.containers.get(container_id)
        except NotFound:
            return []
        out = []
        for entry in record.spec.networking.extra_hosts:
            name, _, addr = entry.partition(":")
            out.append((addr, [name]))
        return out

    def refresh_hosts(self, sandbox: Sandbox) -> None:
        """Rewrite the hosts files of every container on the sandbox's networks."""
        for endpoint in sandbox.endpoints:
            self.refresh_network(endpoint.network_id)

    def refresh_network(self, network_id: str) -> None:
        """Rewrite the hosts files of the containers on user network ``network_id``."""
        if network_id not in self.topology.networks:
            return
        for sandbox, _ in self.topology.members(network_id):
            try:
                record = self.containers.get(sandbox.container_id)
            except NotFound:
                continue
            hostname = record.spec.config.hostname or record.id[:12]
            self._write_hosts(record.id, record.name, hostname, sandbox.endpoints)

    def bind_resolver(
        self,
        out: builtins.list[tuple[socket.socket, socket.socket]],
        udp_port: int,
        tcp_port: int,
    ) -> None:
        """In a container's namespace: bind the resolver's sockets on ``127.0.0.11`` and
        redirect port 53 to them (appended to ``out``).

        Raises:
            Unavailable: a port cannot be bound or nft refused (nothing is left open).
        """
        try:
            pair = net.bind_resolver_sockets(udp_port, tcp_port)
        except OSError as exc:
            raise Unavailable(f"embedded DNS resolver on {net.RESOLVER_IP}: {exc}") from None
        try:
            ports = pair[0].getsockname()[1], pair[1].getsockname()[1]
            net.apply_resolver_redirect(self.stem, *ports)
        except BaseException:
            for sock in pair:
                sock.close()
            raise
        out.append(pair)

    def serve_resolver(
        self, record: ContainerRecord, sandbox: Sandbox, udp: socket.socket, tcp: socket.socket
    ) -> None:
        """Serve the container's resolver on its sockets (bound in its namespace)."""
        container_id = record.id

        def networks() -> builtins.list[dict[str, Any]]:
            current = self.topology.sandboxes.get(container_id)
            endpoints = current.endpoints if current is not None else []
            return [
                self.topology.networks[e.network_id]
                for e in endpoints
                if e.network_id in self.topology.networks
            ]

        def lookup(name: str) -> builtins.list[str]:
            return [
                e.address
                for n in networks()
                for s, e in self.topology.members(n["Id"])
                if s.answers_to(e, name)
            ]

        def reverse(address: str) -> builtins.list[str]:
            return [
                f"{s.name}.{n['Name']}"
                for n in networks()
                for s, e in self.topology.members(n["Id"])
                if e.address == address
            ][:1]

        primary = networks()[:1]
        if primary and primary[0]["Internal"]:
            upstreams: builtins.list[tuple[str, int]] = []
        elif record.spec.networking.dns:
            upstreams = [(a, 53) for a in record.spec.networking.dns]
        else:
            upstreams = net.host_upstreams()
        endpoint = net.ResolverEndpoint(net.Resolver(lookup, reverse, upstreams), udp, tcp)
        self.resolvers[container_id] = endpoint
        sandbox.resolver_ports = list(endpoint.ports)
        endpoint.start_soon()

    def start_resolver(self, record: ContainerRecord, sandbox: Sandbox) -> None:
        """A running container joined its first user network: serve its resolver at
        ``127.0.0.11`` and point its resolv.conf there, as Docker does on connect.

        Raises:
            Unavailable: the resolver's sockets or redirect cannot be set up.
        """
        if record.id in self.resolvers:
            return
        sockets: builtins.list[tuple[socket.socket, socket.socket]] = []
        net.run_in_netns(sandbox.path, functools.partial(self.bind_resolver, sockets, 0, 0))
        self.serve_resolver(record, sandbox, *sockets[0])
        networking = record.spec.networking
        resolv = self.files_dir / record.id / "resolv.conf"
        if resolv.exists():
            resolv.write_text(  # in place: the container's bind mount shows the same inode
                net.resolv_conf(
                    resolv.read_text(),
                    dns=networking.dns,
                    search=networking.dns_search,
                    options=networking.dns_options,
                    embedded=True,
                )
            )

    def restore_resolver(self, sandbox: Sandbox) -> None:
        """After a restart: serve a running container's resolver again on its ports."""
        try:
            record = self.containers.get(sandbox.container_id)
        except NotFound:
            return
        sockets: builtins.list[tuple[socket.socket, socket.socket]] = []
        udp_port, tcp_port = sandbox.resolver_ports
        try:
            net.run_in_netns(
                sandbox.path, functools.partial(self.bind_resolver, sockets, udp_port, tcp_port)
            )
        except Unavailable as exc:
            log.warning("container %s: %s", sandbox.container_id, exc)
            return
        self.serve_resolver(record, sandbox, *sockets[0])

    def close_resolver(self, container_id: str) -> None:
        """Stop the container's resolver (none is fine)."""
        resolver = self.resolvers.pop(container_id, None)
        if resolver is not None:
            resolver.close()

    def close(self) -> None:
        """Stop every resolver (the daemon is exiting; containers keep running)."""
        for resolver in self.resolvers.values():
            resolver.close()
        self.resolvers.clear()

    def forget(self, container_id: str) -> None:
        """Delete a removed container's files."""
        directory = self.files_dir / container_id
        if directory.exists():
            for f in directory.iterdir():
                f.unlink(missing_ok=True)
            directory.rmdir()

    def files(self, container_id: str) -> dict[str, str]:
        """Host paths of the container's hosts, resolv.conf and hostname files."""
        directory = self.files_dir / container_id
        if not directory.exists():
            return {}
        return {name: str(directory / name) for name in ("hosts", "resolv.conf", "hostname")}
