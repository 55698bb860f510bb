"""ImageService: the image store the daemon calls (moby's ``ImageService``).

Layout under ``root``: ``content/`` (blobs), ``s/`` (snapshots: layers and container
layers; a one-letter name because overlay repeats the path once per layer within one page
of mount options), ``metadata.db`` (images, references, layers, containers). Writers
serialise on one lock; readers do not take it. At open, whatever a crash left half-done
is removed: layers still ``unpacking``, snapshots no row refers to, blobs no image refers
to.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import dataclasses
import datetime
import fnmatch
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Final, Literal

from wharf.archive import (
    Change,
    apply_layer,
    detect,
    merged_entries,
    overlay_changes,
    read_merged,
    tree_changes,
    without_mount_points,
    write_tar,
)
from wharf.content import LocalContentStore
from wharf.errors import AlreadyExists, Conflict, DataLoss, InvalidArgument, NotFound
from wharf.images.archives import SaveEntry, read_archive, write_archive
from wharf.images.changes import apply_changes
from wharf.images.image import HistoryEntry, Image, StoreUsage, chain_ids
from wharf.images.reference import Reference, parse_reference
from wharf.metadata import ContainerRecord, ImageRecord, LayerRecord, MetadataStore
from wharf.mount import Mount
from wharf.oci import mediatypes
from wharf.oci.descriptor import Descriptor
from wharf.oci.digest import Digest
from wharf.oci.image import ContainerConfig, History, ImageConfig, Manifest, canonical_json
from wharf.snapshots import NativeSnapshotter, OverlaySnapshotter, Snapshotter, supported

__all__ = ["ImageService"]

_ID: Final = re.compile(r"^(?:sha256:)?([0-9a-f]{1,64})$")
_CONTAINER_PREFIX: Final = "container-"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ImageService:
    """Images over a content store, a snapshotter and the metadata store.

    Args:
        root: the store's directory (keep it short: overlay repeats it per layer).
        snapshotter: ``overlay`` (needs root), ``native`` (copies; no root), or None for
            overlay when running as root on a kernel with overlayfs, else native.
        volatile: mount container layers with overlay's ``volatile`` (no syncs).
    """

    def __init__(
        self,
        root: Path,
        *,
        snapshotter: Literal["overlay", "native"] | None = None,
        volatile: bool = False,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        kind = snapshotter or ("overlay" if os.geteuid() == 0 and supported() else "native")
        self.snapshotter_kind = kind
        self.content = LocalContentStore(self.root / "content")
        self.snapshots: Snapshotter = (
            OverlaySnapshotter(self.root / "s", volatile=volatile)
            if kind == "overlay"
            else NativeSnapshotter(self.root / "s")
        )
        self.metadata = MetadataStore(self.root / "metadata.db")
        self._lock = threading.RLock()
        self._leases: collections.Counter[Digest] = collections.Counter()
        self._recover()

    def close(self) -> None:
        self.metadata.close()
        close = getattr(self.snapshots, "close", None)
        if close is not None:
            close()

    # -- recovery and garbage collection ----------------------------------------------

    def _recover(self) -> None:
        with self._lock:
            while True:
                abandoned = self.metadata.abandoned_layers()
                parents = {layer.parent for layer in self.metadata.layers()}
                leaves = [layer for layer in abandoned if layer.chain_id not in parents]
                if not leaves:
                    break
                for layer in leaves:
                    self._drop_snapshots(self.metadata.abandon_layer(layer.chain_id))
            wanted = {layer.snapshot for layer in self.metadata.layers()}
            wanted |= {c.snapshot for c in self.metadata.containers()}
            for info in sorted(self.snapshots.walk(), key=lambda i: i.created, reverse=True):
                if info.key not in wanted:
                    with contextlib.suppress(NotFound, Conflict):
                        self.snapshots.remove(info.key)
            self._gc_content()

    def _drop_snapshots(self, layers: Sequence[LayerRecord]) -> None:
        for layer in layers:
            with contextlib.suppress(NotFound):
                self.snapshots.remove(layer.snapshot)

    def _gc_content(self, only: set[Digest] | None = None) -> int:
        """Delete blobs no image refers to (among ``only`` if given); returns bytes freed."""
        referenced = self.metadata.referenced_blobs()
        freed = 0
        candidates = list(self.content.walk())
        for info in candidates:
            if only is not None and info.digest not in only:
                continue
            if str(info.digest) in referenced or info.digest in self._leases:
                continue
            with contextlib.suppress(NotFound):
                self.content.delete(info.digest)
                freed += info.size
        return freed

    @contextlib.contextmanager
    def lease(self) -> Iterator[Callable[[Digest], None]]:
        """Protect blobs from GC while an image is assembled (the registry client's pull).

        Yields a function; each digest passed to it stays protected until the block ends.
        """
        held: collections.Counter[Digest] = collections.Counter()

        def protect(digest: Digest) -> None:
            with self._lock:
                self._leases[digest] += 1
                held[digest] += 1

        try:
            yield protect
        finally:
            with self._lock:
                self._leases -= held

    # -- resolution ---------------------------------------------------------------------

    def _image(self, image_id: str, manifest: str | None = None) -> Image:
        record = self.metadata.image(image_id)
        config_digest = Digest.parse(record.id)
        config = ImageConfig.from_bytes(
            self.content.read_bytes(config_digest), f"image {config_digest.short()} config"
        )
        manifest_digest = Digest.parse(manifest or record.manifest_digest)
        media_type = record.manifest_media_type
        if manifest is not None and manifest != record.manifest_digest:
            media_type = Manifest.from_bytes(self.content.read_bytes(manifest_digest)).media_type
        tags: list[str] = []
        digests: list[str] = []
        for name, _ in self.metadata.refs(record.id):
            ref = parse_reference(name, default_tag="")
            (digests if ref.digest is not None else tags).append(ref.familiar())
        return Image(
            id=config_digest,
            config=config,
            manifest_digest=manifest_digest,
            manifest_media_type=media_type,
            repo_tags=tuple(tags),
            repo_digests=tuple(digests),
            size=record.size,
            parent=record.parent,
            chain_id=None if record.chain_id is None else Digest.parse(record.chain_id),
        )

    def resolve(self, ref_or_id: str) -> Image:
        """The image a reference, a full ID or a unique ID prefix names.

        Raises:
            NotFound: nothing matches.
            InvalidArgument: the text is neither a reference nor an ID, or an ID prefix
                is ambiguous.
        """
        match = _ID.match(ref_or_id)
        if match and len(match[1]) == 64:
            return self._image(f"sha256:{match[1]}")
        reference: Reference | None = None
        with contextlib.suppress(InvalidArgument):
            reference = parse_reference(ref_or_id)
        if reference is not None:
            with contextlib.suppress(NotFound):
                return self._image(
                    self.metadata.get_ref(str(reference)),
                    self.metadata.ref_manifest(str(reference)),
                )
            if reference.digest is not None:
                for record in self.metadata.images():
                    names = {parse_reference(n).name for n, _ in self.metadata.refs(record.id)}
                    if record.manifest_digest == str(reference.digest) and reference.name in names:
                        return self._image(record.id)
        if match:
            found = self.metadata.images_by_prefix(f"sha256:{match[1]}")
            if len(found) == 1:
                return self._image(found[0])
            if len(found) > 1:
                raise InvalidArgument(f"image ID prefix {ref_or_id!r} is ambiguous")
        if reference is None and not match:
            raise InvalidArgument(f"invalid reference format: {ref_or_id!r}")
        raise NotFound(f"No such image: {ref_or_id}")

    def list(
        self,
        *,
        dangling: bool | None = None,
        reference: str | None = None,
        labels: Sequence[str] = (),
    ) -> builtins.list[Image]:
        """Images, newest first, filtered like ``docker images --filter``.

        Args:
            dangling: True for untagged images only, False for tagged only.
            reference: a familiar name pattern (``busy*``, ``busybox:1.*``).
            labels: ``key`` or ``key=value`` that must all match.
        """
        out = []
        for record in self.metadata.images():
            image = self._image(record.id)
            if dangling is not None and dangling == bool(image.repo_tags):
                continue
            if reference is not None and not any(
                fnmatch.fnmatchcase(tag, reference)
                or fnmatch.fnmatchcase(tag.rpartition(":")[0], reference)
                for tag in image.repo_tags
            ):
                continue
            image_labels = image.config.config.labels
            if not all(_label_matches(image_labels, f) for f in labels):
                continue
            out.append(image)
        return out

    # -- tags ---------------------------------------------------------------------------

    def tag(self, image: str, ref: str) -> None:
        """Point tag ``ref`` at ``image`` (a reference or ID).

        Raises:
            InvalidArgument: ``ref`` is not a tag reference.
            NotFound: no such image.
        """
        match = _ID.match(image)
        if match and len(match[1]) == 64:  # a full ID: no config to parse
            try:
                record = self.metadata.image(f"sha256:{match[1]}")
            except NotFound:
                raise NotFound(f"No such image: {image}") from None
            target_id, manifest = record.id, record.manifest_digest
        else:
            target = self.resolve(image)
            target_id, manifest = str(target.id), str(target.manifest_digest)
        reference = parse_reference(ref)
        if reference.digest is not None:
            raise InvalidArgument(f"tag {ref!r}: a digest reference cannot be a tag")
        name = str(reference)
        with self._lock:
            with contextlib.suppress(NotFound):
                if (self.metadata.get_ref(name), self.metadata.ref_manifest(name)) == (
                    target_id,
                    manifest,
                ):
                    return  # already so: no write (a rebuild re-tags the same image)
            self.metadata.set_ref(name, target_id, manifest)

    def untag(self, ref: str) -> builtins.list[tuple[str, str]]:
        """Remove one reference, keeping the image: ``[("Untagged", familiar)]``."""
        reference = parse_reference(ref)
        with self._lock:
            self.metadata.delete_ref(str(reference))
        return [("Untagged", reference.familiar())]

    def remove(
        self, ref_or_id: str, *, force: bool = False, prune_children: bool = True
    ) -> builtins.list[tuple[str, str]]:
        """``docker rmi``: untag, and delete the image when nothing else refers to it.

        Args:
            ref_or_id: a reference or an image ID (prefix).
            force: untag every reference of an ID; keep an image used by a container
                (untagged) instead of failing.
            prune_children: also delete untagged parent images left unused (docker's
                default; the name follows the API's ``noprune`` inverse).

        Returns:
            ``("Untagged", ref)`` and ``("Deleted", id)`` pairs, in order.

        Raises:
            NotFound: no such image.
            Conflict: the image is used by a container, or an ID names an image with
                several references, and ``force`` is off.
        """
        image = self.resolve(ref_or_id)
        out: builtins.list[tuple[str, str]] = []
        with self._lock:
            by_id = _ID.match(ref_or_id) is not None and not any(
                t in (ref_or_id, f"{ref_or_id}:latest") for t in image.repo_tags
            )
            refs = [name for name, _ in self.metadata.refs(str(image.id))]
            if not by_id:
                named = parse_reference(ref_or_id)
                # Digest references of the same repository go with its last tag (docker).
                others = [
                    r
                    for r in refs
                    if r != str(named)
                    and not (
                        parse_reference(r).digest is not None
                        and parse_reference(r).name == named.name
                    )
                ]
                if str(named) in refs and others:
                    return self.untag(ref_or_id)
            elif len(refs) > 1 and not force:
                raise Conflict(
                    f"unable to delete {image.short_id} (must be forced) - image is "
                    "referenced in multiple repositories"
                )
            users = [c.id for c in self.metadata.containers() if c.image_id == str(image.id)]
            if users and not force:
                raise Conflict(
                    f"conflict: unable to remove image {image.short_id}: image is being used "
                    f"by container {users[0][:12]}"
                )
            children = self.metadata.children(str(image.id))
            if by_id and children:
                raise Conflict(
                    f"conflict: unable to delete {image.short_id} - image has dependent child "
                    "images"
                )
            for name in refs:
                self.metadata.delete_ref(name)
                out.append(("Untagged", parse_reference(name, default_tag="").familiar()))
            if users or children:
                return out
            out += self._delete(str(image.id), prune_children)
        return out

    def _delete(self, image_id: str, prune_children: bool) -> builtins.list[tuple[str, str]]:
        out: builtins.list[tuple[str, str]] = []
        while True:
            if self.metadata.children(image_id):
                raise Conflict(f"image {image_id[7:19]} has dependent child images")
            parent = self.metadata.image(image_id).parent
            self._drop_snapshots(self.metadata.remove_image(image_id))
            out.append(("Deleted", image_id))
            if not (prune_children and parent):
                break
            try:
                record = self.metadata.image(parent)
            except NotFound:
                break
            in_use = any(c.image_id == record.id for c in self.metadata.containers())
            if self.metadata.refs(record.id) or self.metadata.children(record.id) or in_use:
                break
            image_id = record.id
        self._gc_content()
        return out

    def prune(self, *, dangling_only: bool = True) -> tuple[builtins.list[str], int]:
        """Delete unused images (untagged only, or all without containers).

        Returns:
            (deleted image IDs, bytes reclaimed).
        """
        deleted: builtins.list[str] = []
        with self._lock:
            before = self.usage().layers_size + self._blobs_size()
            changed = True
            while changed:
                changed = False
                used = {c.image_id for c in self.metadata.containers()}
                for record in self.metadata.images():
                    if record.id in used or self.metadata.children(record.id):
                        continue
                    refs = self.metadata.refs(record.id)
                    if refs and dangling_only:
                        continue
                    for name, _ in refs:
                        self.metadata.delete_ref(name)
                    self._drop_snapshots(self.metadata.remove_image(record.id))
                    deleted.append(record.id)
                    changed = True
            self._gc_content()
            after = self.usage().layers_size + self._blobs_size()
        return deleted, max(0, before - after)

    # -- storing images -----------------------------------------------------------------

    def unpack(self, manifest_digest: Digest) -> Digest | None:
        """Unpack a manifest's layers (all in the content store) into snapshots.

        Layers unpacked already are shared, not unpacked again. Returns the top ChainID.

        Raises:
            NotFound: a blob is missing.
            DataLoss: a layer does not hash to its config's diff ID.
            UnsafeEntry: a layer tar is unsafe; nothing of it is kept.
        """
        manifest = Manifest.from_bytes(self.content.read_bytes(manifest_digest))
        config = ImageConfig.from_bytes(self.content.read_bytes(manifest.config.digest))
        if len(config.diff_ids) != len(manifest.layers):
            raise InvalidArgument(
                f"manifest {manifest_digest}: {len(manifest.layers)} layers but the config "
                f"lists {len(config.diff_ids)} diff IDs"
            )
        chains = chain_ids(config.diff_ids)
        with self._lock:
            parent: Digest | None = None
            for layer, diff_id, chain in zip(manifest.layers, config.diff_ids, chains, strict=True):
                existing = self.metadata.find_layer(str(chain))
                if existing is None or existing.state != "ready":
                    with self.content.open(layer.digest) as blob:
                        self._unpack_layer(blob, diff_id, chain, parent)
                parent = chain
        return parent

    def unpack_layer(self, blob: Digest, diff_ids: Sequence[Digest]) -> Digest:
        """Unpack one pulled layer (the top of ``diff_ids``) over the layers below it, so a
        pull can extract while later layers still download; :meth:`register` then finds
        it ready. A layer unpacked already is shared. One that no image comes to use is
        dropped at the next start (:meth:`_recover`). Returns its ChainID.

        Raises:
            NotFound: the blob, or the layer below, is missing.
            DataLoss: the layer does not hash to its diff ID.
        """
        chains = chain_ids(list(diff_ids))
        parent = chains[-2] if len(chains) > 1 else None
        with self._lock:
            existing = self.metadata.find_layer(str(chains[-1]))
            if existing is None or existing.state != "ready":
                with self.content.open(blob) as stream:
                    self._unpack_layer(stream, diff_ids[-1], chains[-1], parent)
        return chains[-1]

    def _unpack_layer(
        self, blob: BinaryIO, diff_id: Digest | None, chain: Digest | None, parent: Digest | None
    ) -> tuple[Digest, Digest]:
        """Apply one layer over ``parent``; returns (diff ID, chain ID)."""
        key = f"extract-{uuid.uuid4().hex}"
        parent_key = None if parent is None else str(parent)
        self.snapshots.prepare(key, parent_key)
        try:
            dirs = self.snapshots.layer_dirs(key)
            result = apply_layer(
                blob,
                dirs.upper,
                whiteouts="overlay" if dirs.mode == "overlay" else "delete",
                lowers=dirs.lowers,
            )
            if diff_id is not None and result.diff_id != diff_id:
                raise DataLoss(f"layer {diff_id}: uncompressed content hashes to {result.diff_id}")
            diff_id = result.diff_id
            if chain is None:
                chain = chain_ids([parent, diff_id])[1] if parent is not None else diff_id
            if self.metadata.find_layer(str(chain)) is not None:
                self.snapshots.remove(key)  # identical layer stored meanwhile: share it
                return diff_id, chain
            self.metadata.begin_layer(str(chain), str(diff_id), parent_key, str(chain))
            try:
                self.snapshots.commit(str(chain), key)
                self.metadata.finish_layer(str(chain), result.size)
            except BaseException:
                self._drop_snapshots(self.metadata.abandon_layer(str(chain)))
                raise
            return diff_id, chain
        except BaseException:
            with contextlib.suppress(NotFound):
                self.snapshots.remove(key)
            raise

    def _store_image(
        self, manifest_bytes: bytes, manifest_digest: Digest, parent: str = ""
    ) -> Image:
        """Record a manifest whose blobs are stored: unpack it and add the image."""
        manifest = Manifest.from_bytes(manifest_bytes, f"manifest {manifest_digest}")
        self.content.ingest_bytes(manifest_bytes, manifest_digest)
        chain = self.unpack(manifest_digest)
        size = sum(
            self.metadata.layer(str(c)).size
            for c in chain_ids(
                ImageConfig.from_bytes(self.content.read_bytes(manifest.config.digest)).diff_ids
            )
        )
        record = ImageRecord(
            id=str(manifest.config.digest),
            manifest_digest=str(manifest_digest),
            manifest_media_type=manifest.media_type,
            chain_id=None if chain is None else str(chain),
            parent=parent,
            created=datetime.datetime.now(datetime.UTC).timestamp(),
            size=size,
        )
        blobs = [str(manifest_digest), str(manifest.config.digest)]
        blobs += [str(layer.digest) for layer in manifest.layers]
        self.metadata.add_image(record, blobs)
        return self._image(record.id)

    def register(self, manifest: bytes, references: Sequence[str] = ()) -> Image:
        """Add a pulled image: its blobs are in :attr:`content` (protect them with
        :meth:`lease` while pulling); the manifest bytes are stored as given (digest
        preserved), the layers unpacked, and each reference pointed at it. A tag reference
        also records ``name@<manifest digest>`` (the image's RepoDigests).

        Raises:
            InvalidArgument: the manifest or a reference is malformed.
            NotFound: a blob the manifest names is missing.
            DataLoss: a layer does not match its diff ID.
        """
        parsed = [parse_reference(r) for r in references]
        digest = Digest.from_bytes(manifest)
        with self._lock:
            image = self._store_image(manifest, digest)
            for reference in parsed:
                self.metadata.set_ref(str(reference), str(image.id), str(digest))
                by_digest = Reference(reference.domain, reference.path, "", digest)
                self.metadata.set_ref(str(by_digest), str(image.id), str(digest))
            return self._image(str(image.id), str(digest))

    def load(self, stream: BinaryIO) -> builtins.list[str]:
        """``docker load``: a docker-save archive or an OCI layout archive, streamed.

        Returns:
            Docker's messages: ``Loaded image: busybox:latest`` per tag, or
            ``Loaded image ID: sha256:…`` for an untagged image.

        Raises:
            InvalidArgument, NotFound, DataLoss: the archive is malformed, lacks a blob or
                is corrupt; the store is left as it was.
        """
        seen: set[Digest] = set()
        messages: builtins.list[str] = []
        try:
            # The archive streams in without the store lock: its blobs are leased, so a
            # concurrent GC leaves them alone; only storing the images takes the lock.
            with self.lease() as protect:

                def note(digest: Digest) -> None:
                    protect(digest)
                    seen.add(digest)

                found = read_archive(stream, self.content, on_blob=note)
                with self._lock:
                    for entry in found:
                        names = dict.fromkeys(parse_reference(n) for n in entry.names)
                        note(entry.manifest_digest)
                        image = self._store_image(entry.manifest, entry.manifest_digest)
                        for reference in names:
                            self.metadata.set_ref(
                                str(reference), str(image.id), str(entry.manifest_digest)
                            )
                            messages.append(f"Loaded image: {reference.familiar()}")
                        if not names:
                            messages.append(f"Loaded image ID: {image.id}")
        finally:
            with self._lock:
                self._gc_content(seen)  # what no image uses: a failed load's, index files
        return messages

    def save(self, refs: Sequence[str], out: BinaryIO) -> None:
        """``docker save``: write the images as a docker-save archive with an OCI layout.

        Raises:
            NotFound: a reference names no image.
        """
        entries: builtins.list[SaveEntry] = []
        for text in refs:
            image = self.resolve(text)
            names: tuple[str, ...] = ()
            if not _ID.match(text):
                reference = parse_reference(text)
                if reference.digest is None:
                    names = (str(reference),)
            elif len(text.removeprefix("sha256:")) < 64:
                names = ()
            manifest_bytes = self.content.read_bytes(image.manifest_digest)
            manifest = Manifest.from_bytes(manifest_bytes, f"manifest {image.manifest_digest}")
            entries.append(
                SaveEntry(
                    manifest_digest=image.manifest_digest,
                    manifest_media_type=manifest.media_type,
                    manifest=manifest,
                    manifest_size=len(manifest_bytes),
                    names=names,
                    familiar=tuple(parse_reference(n).familiar() for n in names),
                )
            )
        write_archive(out, entries, self.content.open, lambda d: self.content.info(d).size)

    def _new_image(
        self,
        config: ImageConfig,
        layers: Sequence[Descriptor],
        *,
        parent: str = "",
        ref: str | None = None,
    ) -> Image:
        config_bytes = canonical_json(config.to_json())
        config_info = self.content.ingest_bytes(config_bytes)
        manifest = Manifest(
            config=Descriptor(mediatypes.OCI_CONFIG, config_info.digest, config_info.size),
            layers=tuple(layers),
            media_type=mediatypes.OCI_MANIFEST,
        )
        manifest_bytes = canonical_json(manifest.to_json())
        image = self._store_image(manifest_bytes, Digest.from_bytes(manifest_bytes), parent)
        if ref is not None:
            self.metadata.set_ref(str(parse_reference(ref)), str(image.id))
            image = self._image(str(image.id))
        return image

    def import_rootfs(
        self,
        stream: BinaryIO,
        ref: str | None = None,
        *,
        changes: Sequence[str] = (),
        message: str = "",
    ) -> Image:
        """``docker import``: a rootfs tarball (plain/gzip/zstd) as a one-layer image.

        Raises:
            InvalidArgument: ``ref`` or a change is malformed, or the tar is unsafe.
            DataLoss: the tar is corrupt.
        """
        reference = None if ref is None else parse_reference(ref)
        container_config = apply_changes(ContainerConfig(), changes)
        with self._lock:
            with self.content.writer() as writer:
                writer.copy_from(stream)
                try:
                    info = writer.commit()
                except AlreadyExists:
                    info = self.content.info(writer.digest())
            try:
                with self.content.open(info.digest) as blob:
                    head = blob.read(4)
                with self.content.open(info.digest) as blob:
                    diff_id, _ = self._unpack_layer(blob, None, None, None)
                created = _now()
                config = ImageConfig(
                    architecture="amd64",
                    os="linux",
                    diff_ids=(diff_id,),
                    config=container_config,
                    created=created,
                    history=(History(created=created, comment=message or "Imported from -"),),
                )
                media = {
                    "none": mediatypes.OCI_LAYER,
                    "gzip": mediatypes.OCI_LAYER_GZIP,
                    "zstd": mediatypes.OCI_LAYER_ZSTD,
                }[detect(head)]
                return self._new_image(
                    config,
                    [Descriptor(media, info.digest, info.size)],
                    ref=None if reference is None else str(reference),
                )
            finally:
                self._gc_content({info.digest})

    # -- containers ---------------------------------------------------------------------

    def prepare_container(self, cid: str, image: str) -> builtins.list[Mount]:
        """Create container ``cid``'s writable layer over ``image``; returns its mounts.

        Raises:
            NotFound: no such image.
            AlreadyExists: the container has a layer already.
        """
        if not cid or "/" in cid:
            raise InvalidArgument(f"container ID {cid!r}: expected a non-empty name")
        target = self.resolve(image)
        key = _CONTAINER_PREFIX + cid
        with self._lock:
            self.metadata.add_container(
                ContainerRecord(
                    cid,
                    str(target.id),
                    None if target.chain_id is None else str(target.chain_id),
                    key,
                    datetime.datetime.now(datetime.UTC).timestamp(),
                )
            )
            try:
                return self.snapshots.prepare(
                    key,
                    None if target.chain_id is None else str(target.chain_id),
                    labels={"wharf.container": cid},
                )
            except BaseException:
                self._drop_snapshots(self.metadata.remove_container(cid))
                raise

    def container_mounts(self, cid: str) -> builtins.list[Mount]:
        """The mounts of container ``cid``'s root filesystem."""
        return self.snapshots.mounts(self.metadata.container(cid).snapshot)

    def container_file(self, cid: str, path: str) -> bytes | None:
        """The first MiB of the regular file at ``path`` (``/etc/group``) in container
        ``cid``'s root filesystem, read from its layer directories (no mount); None when
        there is none.

        Raises:
            ValueError: a symbolic link on the way (mount the rootfs to resolve it).
        """
        dirs = self.snapshots.layer_dirs(self.metadata.container(cid).snapshot)
        return read_merged((dirs.upper, *dirs.lowers), path)

    def remove_container(self, cid: str) -> None:
        """Remove container ``cid``'s writable layer (layers it used may then be freed)."""
        with self._lock:
            record = self.metadata.container(cid)
            with contextlib.suppress(NotFound):
                self.snapshots.remove(record.snapshot)
            self._drop_snapshots(self.metadata.remove_container(cid))

    def _container_changes(self, cid: str) -> builtins.list[Change]:
        record = self.metadata.container(cid)
        dirs = self.snapshots.layer_dirs(record.snapshot)
        if dirs.mode == "overlay":
            return without_mount_points(overlay_changes(dirs.upper, dirs.lowers))
        base = None
        if record.chain_id is not None:
            base = self.snapshots.layer_dirs(self.metadata.layer(record.chain_id).snapshot).upper
        return without_mount_points(tree_changes(dirs.upper, base))

    def changes(self, cid: str) -> builtins.list[tuple[int, str]]:
        """``docker diff``: (kind, path) with kind 0 modified, 1 added, 2 deleted."""
        return [(int(c.kind), c.path) for c in self._container_changes(cid)]

    def commit(
        self,
        cid: str,
        ref: str | None = None,
        *,
        changes: Sequence[str] = (),
        author: str = "",
        message: str = "",
    ) -> Image:
        """``docker commit``: the container's changes become a new layer of a new image."""
        record = self.metadata.container(cid)
        base = self._image(record.image_id)
        config_changes = apply_changes(base.config.config, changes)
        diffs = self._container_changes(cid)
        with self._lock, tempfile.TemporaryFile(dir=self.root) as tmp:
            write_tar(tmp, diffs)
            tmp.seek(0)
            info = self.content.ingest(tmp)
            try:
                created = _now()
                config = dataclasses.replace(
                    base.config,
                    config=config_changes,
                    diff_ids=(*base.config.diff_ids, info.digest),
                    created=created,
                    author=author,
                    history=(
                        *base.config.history,
                        History(created=created, author=author, comment=message),
                    ),
                )
                manifest = Manifest.from_bytes(self.content.read_bytes(base.manifest_digest))
                layer = Descriptor(mediatypes.OCI_LAYER, info.digest, info.size)
                return self._new_image(
                    config, [*manifest.layers, layer], parent=str(base.id), ref=ref
                )
            finally:
                self._gc_content({info.digest})

    def build_image(
        self,
        config: ImageConfig,
        *,
        base: str | None,
        container: str | None = None,
        reuse: tuple[str, int] | None = None,
    ) -> Image:
        """A builder step's image: ``base``'s layers (none if None), plus container
        ``container``'s changes as one more layer when given, or layer ``index`` of image
        ``source`` when ``reuse`` is ``(source, index)``, with ``config`` as its config
        (``diff_ids`` are set here; history is the caller's)."""
        layers: builtins.list[Descriptor] = []
        diff_ids: builtins.list[Digest] = []
        if base is not None:
            parent = self.resolve(base)
            layers = [*Manifest.from_bytes(self.content.read_bytes(parent.manifest_digest)).layers]
            diff_ids = [*parent.config.diff_ids]
        if reuse is not None:
            source = self.resolve(reuse[0])
            manifest = Manifest.from_bytes(self.content.read_bytes(source.manifest_digest))
            layers.append(manifest.layers[reuse[1]])
            diff_ids.append(source.config.diff_ids[reuse[1]])
        with self._lock, tempfile.TemporaryFile(dir=self.root) as tmp:
            info = None
            if container is not None:
                write_tar(tmp, self._container_changes(container))
                tmp.seek(0)
                info = self.content.ingest(tmp)
                layers.append(Descriptor(mediatypes.OCI_LAYER, info.digest, info.size))
                diff_ids.append(info.digest)
            try:
                final = dataclasses.replace(config, diff_ids=tuple(diff_ids))
                return self._new_image(final, layers, parent=base or "")
            finally:
                if info is not None:
                    self._gc_content({info.digest})

    def export_container(self, cid: str, out: BinaryIO) -> None:
        """``docker export``: the container's merged filesystem as a tar stream."""
        record = self.metadata.container(cid)
        dirs = self.snapshots.layer_dirs(record.snapshot)
        write_tar(out, merged=merged_entries([dirs.upper, *dirs.lowers]))

    # -- reporting ----------------------------------------------------------------------

    def history(self, image: str) -> builtins.list[HistoryEntry]:
        """``docker history``: rows newest first."""
        target = self.resolve(image)
        diff_ids = list(target.config.diff_ids)
        sizes = [self.metadata.layer(str(c)).size for c in chain_ids(diff_ids)]
        rows: builtins.list[HistoryEntry] = []
        layer_index = 0
        entries = list(target.config.history) or [History() for _ in diff_ids]
        for entry in entries:
            size = 0
            if not entry.empty_layer and layer_index < len(sizes):
                size = sizes[layer_index]
                layer_index += 1
            rows.append(
                HistoryEntry("<missing>", entry.created, entry.created_by, size, entry.comment, ())
            )
        rows.reverse()
        if rows:
            rows[0] = dataclasses.replace(rows[0], id=str(target.id), tags=target.repo_tags)
        return rows

    def _blobs_size(self) -> int:
        return sum(info.size for info in self.content.walk())

    def usage(self) -> StoreUsage:
        """Disk use of images, layers and container layers."""
        layers = sum(self.snapshots.usage(layer.snapshot).size for layer in self.metadata.layers())
        containers = tuple(
            (c.id, self.snapshots.usage(c.snapshot).size) for c in self.metadata.containers()
        )
        return StoreUsage(
            images=len(self.metadata.images()),
            layers_size=layers,
            blobs_size=self._blobs_size(),
            containers=containers,
        )


def _label_matches(labels: Mapping[str, str], expr: str) -> bool:
    key, sep, value = expr.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value
