"""Registry storage: the :class:`StorageDriver` seam, its filesystem implementation, and
the :class:`Store` that lays repositories, blobs, tags and uploads out on a driver."""

from wharf.registry.storage.driver import FileInfo, FileWriter, StorageDriver
from wharf.registry.storage.filesystem import FilesystemDriver
from wharf.registry.storage.store import Manifest, Store

__all__ = ["FileInfo", "FileWriter", "FilesystemDriver", "Manifest", "StorageDriver", "Store"]
