"""Wharf's registry server: OCI Distribution Spec v1.1 and Docker Registry HTTP API v2.

Model. A :class:`~wharf.registry.storage.store.Store` keeps blobs once, by digest, and
gives each repository links to the blobs and manifests it holds, plus tags and upload
sessions (the path layout is in :mod:`wharf.registry.storage.store`). Bytes reach
``blobs/`` only after their digest is verified, by an atomic rename, so every reader
sees whole, verified content, and several server processes can share one storage root
(the store holds no state that matters in memory). The aiohttp application
(:func:`~wharf.registry.app.make_app`) maps the spec's endpoints onto the store; auth
(htpasswd or Docker tokens), webhooks (a durable queue per endpoint), the pull-through
mirror, search and metrics are services beside it. :func:`~wharf.registry.gc.collect`
is an offline-safe mark and sweep. Errors carry one code of
:data:`~wharf.registry.errcodes.CODES`.

Entry points: ``wharf registry serve [CONFIG] --addr --root``,
``wharf registry garbage-collect CONFIG [--dry-run]`` (and ``python -m wharf.registry``).
"""

from wharf.registry.app import Registry, make_app
from wharf.registry.config import RegistryConfig, load_config
from wharf.registry.errcodes import CODES, ErrorCode, RegistryError
from wharf.registry.gc import GCReport, collect

__all__ = [
    "CODES",
    "ErrorCode",
    "GCReport",
    "Registry",
    "RegistryConfig",
    "RegistryError",
    "collect",
    "load_config",
    "make_app",
]
