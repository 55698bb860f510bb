"""Content store: immutable blobs addressed by digest (containerd's ``core/content``).

Model and lifecycle:

1. A caller opens a :class:`Writer` from an :class:`Ingester` and streams bytes into it.
   In-flight ingests live under ``ingest/`` and are invisible to readers.
2. ``Writer.commit(expected)`` verifies the digest (and size), fsyncs the data, links the
   file to ``blobs/<alg>/<hex>`` and fsyncs the directory. Only then is the blob visible
   through the :class:`Provider`. When the blob exists already, commit raises
   :class:`wharf.errors.AlreadyExists` and drops its copy, so concurrent ingests of one
   blob end in exactly one stored copy.
3. A :class:`Manager` lists and deletes blobs; deciding *what* may be deleted (garbage
   collection) is the job of the image service, which knows the references.

Digests are ``sha256`` (default) or ``sha512``. Memory stays bounded: bytes are streamed
in chunks, never held whole.
"""

from wharf.content.local import LocalContentStore, Writer
from wharf.content.protocols import Info, Ingester, Manager, Provider, Store

__all__ = ["Info", "Ingester", "LocalContentStore", "Manager", "Provider", "Store", "Writer"]
