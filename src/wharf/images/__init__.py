"""Images: the store the engine calls (resolve, load/save, import, commit, containers).

Model: an image is a manifest and a config in the content store (its ID is the config
digest); its layers are unpacked once each into committed snapshots named by ChainID and
shared by every image and container above them; a container gets a thin writable
snapshot on the image's top layer. References (``docker.io/library/busybox:latest``,
``name@sha256:…``) point at images. Layers carry reference counts; deleting an image
frees the layers and blobs nothing else uses, never those of another image or a
container. :class:`ImageService` is the API; :mod:`wharf.images.reference` parses names;
:mod:`wharf.images.busybox` builds the default image.
"""

from wharf.images.image import HistoryEntry, Image, StoreUsage, chain_ids
from wharf.images.reference import Reference, parse_reference
from wharf.images.service import ImageService

__all__ = [
    "HistoryEntry",
    "Image",
    "ImageService",
    "Reference",
    "StoreUsage",
    "chain_ids",
    "parse_reference",
]
