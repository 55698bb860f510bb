"""Run the registry application on its configured address."""

from __future__ import annotations

import logging

from aiohttp import web

from wharf.errors import InvalidArgument, Unavailable
from wharf.registry.app import make_app
from wharf.registry.config import RegistryConfig

__all__ = ["serve"]


def serve(cfg: RegistryConfig) -> None:
    """Serve until SIGINT/SIGTERM.

    Raises:
        InvalidArgument: ``cfg.addr`` is not ``HOST:PORT``.
        Unavailable: the address cannot be bound (in use, not local).
    """
    host, sep, port = cfg.addr.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidArgument(f"registry address {cfg.addr!r}: expected HOST:PORT")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        web.run_app(
            make_app(cfg), host=host or "0.0.0.0", port=int(port), print=None, access_log=None
        )
    except OSError as exc:
        raise Unavailable(f"registry cannot listen on {cfg.addr}: {exc.strerror}") from exc
