"""Registry storage: the :class:`StorageDriver` seam, its filesystem implementation, and
the :class:`Store` that lays repositories, blobs, tags and uploads out on a driver."""

from wharf.errors import InvalidArgument
from wharf.registry.config import RegistryConfig
from wharf.registry.storage.driver import FileInfo, FileWriter, StorageDriver
from wharf.registry.storage.filesystem import FilesystemDriver
from wharf.registry.storage.inmemory import InMemoryDriver
from wharf.registry.storage.store import Manifest, Store

__all__ = [
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "InMemoryDriver",
    "Manifest",
    "StorageDriver",
    "Store",
    "open_driver",
]


def open_driver(cfg: RegistryConfig) -> StorageDriver:
    """The storage driver a configuration names.

    Raises:
        InvalidArgument: an unknown driver name.
    """
    if cfg.driver == "filesystem":
        return FilesystemDriver(cfg.root)
    if cfg.driver == "inmemory":
        return InMemoryDriver()
    raise InvalidArgument(f"storage driver {cfg.driver!r}: expected filesystem or inmemory")
