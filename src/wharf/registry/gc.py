"""Garbage collection: mark every blob a manifest uses, sweep the rest.

Mark: for every repository, every manifest revision (tagged or not) and the config and
layers it names. Sweep: a committed blob nobody marked is removed, together with the
repository links to it, unless it was touched less than ``grace`` seconds ago. Every
upload commit, mount, existence check (``HEAD``) and manifest push that names a blob
refreshes its time, so a push in flight (blobs uploaded, manifest not yet sent) keeps
its blobs as long as it finishes within the grace period. Upload sessions are not
blobs and are never swept here (they expire by age).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from wharf.errors import NotFound
from wharf.oci import Digest
from wharf.registry.errcodes import RegistryError
from wharf.registry.manifests import media_type_of, parse_manifest
from wharf.registry.storage.store import Store

__all__ = ["GCReport", "collect"]


@dataclass
class GCReport:
    """What a collection found and removed (or would remove, in a dry run).

    Attributes:
        marked: blobs in use.
        blobs: blobs removed.
        bytes: their total size.
        layer_links: repository links removed with them.
        kept_young: unreferenced blobs kept because they are inside the grace period.
    """

    marked: set[Digest] = field(default_factory=set)
    blobs: list[Digest] = field(default_factory=list)
    bytes: int = 0
    layer_links: int = 0
    kept_young: list[Digest] = field(default_factory=list)


def mark(store: Store) -> set[Digest]:
    """Every blob digest some manifest of some repository uses (manifests included)."""
    marked: set[Digest] = set()
    for name in store.catalog():
        for digest in store.manifest_revisions(name):
            marked.add(digest)
            try:
                data = store.driver.get_content(store.blob_key(digest))
                parsed = parse_manifest(data, media_type_of(data))
            except (NotFound, RegistryError):
                continue
            marked.update(b.digest for b in parsed.blobs)
    return marked


def collect(store: Store, *, grace: float, dry_run: bool) -> GCReport:
    """Run mark and sweep over ``store``.

    Args:
        store: the registry storage.
        grace: seconds a blob is kept after it was last touched even if unreferenced.
        dry_run: report only; remove nothing.
    """
    report = GCReport(marked=mark(store))
    now = time.time()
    doomed = []
    for digest in store.all_blobs():
        if digest in report.marked:
            continue
        try:
            info = store.driver.stat(store.blob_key(digest))
        except NotFound:
            continue
        if now - info.mtime < grace:
            report.kept_young.append(digest)
            continue
        doomed.append(digest)
        report.blobs.append(digest)
        report.bytes += info.size
    doomed_set = set(doomed)
    for name in store.catalog_with_uploads():
        for digest in store.layer_links(name):
            if digest in doomed_set:
                report.layer_links += 1
                if not dry_run:
                    with contextlib.suppress(RegistryError):
                        store.unlink_blob(name, digest)
    if not dry_run:
        for digest in doomed:
            key = store.blob_key(digest).rsplit("/", 1)[0]
            try:
                # Last look: a push may have touched it since the scan.
                if time.time() - store.driver.stat(store.blob_key(digest)).mtime < grace:
                    continue
                store.driver.delete(key)
            except NotFound:
                continue
    return report
