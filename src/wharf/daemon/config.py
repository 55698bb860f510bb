"""The daemon's settings (dockerd's flag names)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from wharf.distribution.hosts import RegistryHosts
from wharf.errors import InvalidArgument

__all__ = ["DEFAULT_HOST", "RUNTIMES", "DaemonConfig", "socket_path"]

DEFAULT_HOST: Final = "unix:///run/wharf/wharf.sock"
RUNTIMES: Final = ("wharf", "runc", "crun")


def socket_path(host: str) -> str:
    """``unix:///path`` (or a bare path) -> ``/path``.

    Raises:
        InvalidArgument: another scheme.
    """
    if host.startswith("unix://"):
        path = host[len("unix://") :]
    elif host.startswith("/"):
        path = host
    else:
        raise InvalidArgument(f"host {host!r}: only unix:///path sockets are supported")
    if not path:
        raise InvalidArgument(f"host {host!r}: empty socket path")
    return path


@dataclass(frozen=True)
class DaemonConfig:
    """What ``wharf daemon`` was asked to do.

    Attributes:
        hosts: the unix sockets to serve on.
        data_root: persistent state (containers, images).
        exec_root: runtime state (monitors' sockets, container state dirs).
        pidfile: where the daemon's pid goes.
        runtime: ``wharf`` (ours), ``runc`` or ``crun``.
        cgroup_parent: the cgroup every container's cgroup is created under.
        registry_hosts: registry mirrors and insecure registries.
        bridge: the default bridge's name (its stem names the other links and the nft table).
        bip: the default bridge's address and prefix.
        max_build_context: the largest build context accepted, in bytes (as sent and
            extracted).
        init: run every container with ``--init`` unless its ``HostConfig.Init`` says no.
        init_path: the init binary (tini); "" = ``docker-init`` on $PATH.
    """

    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: Path = Path("/var/lib/wharf")
    exec_root: Path = Path("/run/wharf")
    pidfile: Path = Path("/run/wharf/wharf.pid")
    log_level: str = "info"
    runtime: str = "wharf"
    cgroup_parent: str = "wharf"
    registry_hosts: RegistryHosts = field(default_factory=RegistryHosts)
    bridge: str = "wharf0"
    bip: str = "10.88.0.1/16"
    max_build_context: int = 4 << 30
    init: bool = False
    init_path: str = ""

    def validate(self) -> None:
        """Raises InvalidArgument for an unknown runtime, bad host or cgroup parent."""
        if self.runtime not in RUNTIMES:
            raise InvalidArgument(
                f"--runtime {self.runtime!r}: expected one of {', '.join(RUNTIMES)}"
            )
        for host in self.hosts:
            socket_path(host)
        self.registry_hosts.validate()
        if not 0 < len(self.bridge) <= 15 or "/" in self.bridge or " " in self.bridge:
            raise InvalidArgument(
                f"--bridge {self.bridge!r}: expected a link name of 1-15 characters"
            )
        try:
            ipaddress.IPv4Interface(self.bip)
        except ValueError:
            raise InvalidArgument(
                f"--bip {self.bip!r}: expected an IPv4 address with a prefix (10.88.0.1/16)"
            ) from None
        if self.max_build_context <= 0:
            raise InvalidArgument(
                f"--max-build-context-size {self.max_build_context}: expected a positive size"
            )
        if self.init_path and not (
            os.path.isfile(self.init_path) and os.access(self.init_path, os.X_OK)
        ):
            raise InvalidArgument(
                f"--init-path {self.init_path!r}: expected an executable file (tini)"
            )
        if not self.cgroup_parent or "/" in self.cgroup_parent.strip("/"):
            raise InvalidArgument(
                f"--cgroup-parent {self.cgroup_parent!r}: expected one cgroup name"
            )
