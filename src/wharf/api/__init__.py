"""The Docker Engine API (v1.41) as an aiohttp application over small backend Protocols.

Model: ``app.make_app(Backends(...))`` builds the application; ``routers/`` hold one route table
per resource (system, containers, exec, images); each handler parses the query/body with
``wharf.apitypes``, calls one method of a Protocol from ``backends.py`` and serialises the typed
result. ``errors.py`` is the only kind -> HTTP status table. ``hijack.py`` takes a connection over
after ``101 UPGRADED`` for attach and exec. Nothing here imports the daemon, the runtime or the
image store: ``wharf.daemon.assemble`` hands the concrete services in.
"""

from wharf.api.app import make_app
from wharf.api.backends import (
    AttachOptions,
    Backends,
    BuilderBackend,
    BuildRequest,
    ByteStream,
    ContainerBackend,
    ExecBackend,
    HijackedConn,
    ImageBackend,
    LogOptions,
    Session,
    SystemBackend,
)

__all__ = [
    "AttachOptions",
    "Backends",
    "BuildRequest",
    "BuilderBackend",
    "ByteStream",
    "ContainerBackend",
    "ExecBackend",
    "HijackedConn",
    "ImageBackend",
    "LogOptions",
    "Session",
    "SystemBackend",
    "make_app",
]
