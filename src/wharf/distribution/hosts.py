"""Reference domain -> endpoints: mirrors, insecure (plain http) registries."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Final

from wharf.errors import InvalidArgument, NotFound

__all__ = ["DOCKER_HUB", "Endpoint", "RegistryHosts"]

DOCKER_HUB: Final = "docker.io"
_HUB_API: Final = "registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    """One place a repository can be fetched from.

    Attributes:
        url: base URL without a trailing slash (``http://127.0.0.1:5000``).
        mirror: True for a pull-through mirror (never pushed to).
    """

    url: str
    mirror: bool = False

    @property
    def host(self) -> str:
        return self.url.partition("://")[2]


def _host_only(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class RegistryHosts:
    """The daemon's registry settings (dockerd's ``--registry-mirror``, ``--insecure-registry``).

    Attributes:
        mirrors: mirror URLs tried before Docker Hub.
        insecure: hosts (``host:port``) or CIDRs reached over plain http.
        docker_hub: whether ``docker.io`` names may reach Docker Hub itself (off by
            default: Wharf hosts have no Hub, and a typo'd ``docker run`` must not send
            traffic off the machine; mirrors still serve ``docker.io`` names).
    """

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = field(default=())
    docker_hub: bool = False

    def validate(self) -> None:
        """Raises InvalidArgument for a mirror that is not an http(s) URL or a bad CIDR."""
        for mirror in self.mirrors:
            if not mirror.startswith(("http://", "https://")) or mirror.count("/") > 3:
                raise InvalidArgument(
                    f"--registry-mirror {mirror!r}: expected http(s)://host[:port]"
                )
        for entry in self.insecure:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise InvalidArgument(
                        f"--insecure-registry {entry!r}: expected host[:port] or a CIDR"
                    ) from None

    def is_insecure(self, host: str) -> bool:
        """Plain http for ``host``: loopback (as in Docker) or listed as insecure."""
        name = _host_only(host)
        if host in self.insecure or name in self.insecure or name == "localhost":
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if address.is_loopback:
            return True
        return any(
            "/" in entry and address in ipaddress.ip_network(entry, strict=False)
            for entry in self.insecure
        )

    def origin(self, domain: str) -> Endpoint:
        """The registry itself.

        Raises:
            NotFound: ``docker.io`` while Docker Hub is not enabled.
        """
        if domain == DOCKER_HUB and not self.docker_hub:
            raise NotFound(
                "Docker Hub is not enabled on this daemon (start it with --docker-hub, or "
                "set --registry-mirror)"
            )
        host = _HUB_API if domain == DOCKER_HUB else domain
        scheme = "http" if self.is_insecure(host) else "https"
        return Endpoint(f"{scheme}://{host}")

    def pull_endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors first (Docker Hub names only, as in dockerd), then the origin.

        Raises:
            NotFound: a ``docker.io`` name with neither mirrors nor Docker Hub enabled.
        """
        if domain != DOCKER_HUB:
            return [self.origin(domain)]
        out = [Endpoint(m.rstrip("/"), mirror=True) for m in self.mirrors]
        if self.docker_hub or not out:
            out.append(self.origin(domain))
        return out
