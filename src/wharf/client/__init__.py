"""A typed client of the Engine API over the daemon's unix socket.

Model: :class:`Client` wraps ``httpx`` (``HTTPTransport(uds=...)``) for plain requests and opens
its own raw socket for hijacked streams (attach, exec start), which it hands back as a
:class:`RawStream`. HTTP statuses are turned back into :mod:`wharf.errors` kinds in one table
(``_errors.py``), so callers catch kinds, never match message text. The host comes from the
argument, then ``WHARF_HOST``, then ``DOCKER_HOST``, then ``unix:///run/wharf/wharf.sock``.
"""

from wharf.client.client import DEFAULT_HOST, Client, RawStream, resolve_host

__all__ = ["DEFAULT_HOST", "Client", "RawStream", "resolve_host"]
