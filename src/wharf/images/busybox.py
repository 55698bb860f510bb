"""Build the default ``busybox:latest`` image from Debian's busybox-static, reproducibly.

``python -m wharf.images.busybox OUT.tar`` writes a docker-save archive (with an OCI
layout inside) that ``docker load`` and :meth:`ImageService.load` accept. The layer holds
``/bin/busybox``, a symlink per applet at the path ``busybox --list-full`` gives (as
``busybox --install -s`` would make them), a minimal ``/etc/passwd`` (root, nobody) and
``/etc/group``, ``/tmp`` (1777), ``/root`` and ``/home``. Every entry has mtime 0, owner
0:0 and a fixed order, and the config a fixed date, so the same busybox binary gives the
same image ID on every machine.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO, Final

from wharf.errors import FailedPrecondition
from wharf.images.archives import SaveEntry, write_archive
from wharf.oci import mediatypes
from wharf.oci.descriptor import Descriptor
from wharf.oci.digest import Digest
from wharf.oci.image import ContainerConfig, History, ImageConfig, Manifest, canonical_json

__all__ = ["build_archive", "build_layer", "main"]

BUSYBOX: Final = Path("/bin/busybox")
_CREATED: Final = "1970-01-01T00:00:00Z"
_PATH: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_FILES: Final = {
    "etc/passwd": b"".join(
        [
            b"root:x:0:0:root:/root:/bin/sh\n",
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ]
    ),
    "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": b"localhost\n",
}
_DIRS: Final = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o755,
    "root": 0o700,
    "sbin": 0o755,
    "sys": 0o755,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "var": 0o755,
}


def _entry(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def _applets(busybox: Path) -> list[str]:
    try:
        listing = subprocess.run(
            [str(busybox), "--list-full"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FailedPrecondition(
            f"{busybox}: cannot list applets ({exc}); install Debian's busybox-static"
        ) from exc
    return sorted({line.strip() for line in listing.splitlines() if line.strip()})


def build_layer(busybox: Path = BUSYBOX) -> bytes:
    """The uncompressed layer tar, byte for byte the same for the same busybox binary."""
    out = io.BytesIO()
    binary = busybox.read_bytes()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, mode in sorted(_DIRS.items()):
            tar.addfile(_entry(name, tarfile.DIRTYPE, mode))
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), io.BytesIO(binary))
        for name, data in sorted(_FILES.items()):
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        for applet in _applets(busybox):
            if applet == "bin/busybox" or applet.rpartition("/")[0] not in _DIRS:
                continue
            tar.addfile(_entry(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
    return out.getvalue()


def build_archive(out: BinaryIO, busybox: Path = BUSYBOX) -> Digest:
    """Write the docker-save archive of ``busybox:latest``; returns the image ID."""
    layer = build_layer(busybox)
    layer_digest = Digest.from_bytes(layer)
    config = ImageConfig(
        architecture="amd64",
        os="linux",
        diff_ids=(layer_digest,),
        config=ContainerConfig(env=(_PATH,), cmd=("sh",)),
        created=_CREATED,
        history=(
            History(
                created=_CREATED,
                created_by="wharf.images.busybox: Debian busybox-static, applets as symlinks",
            ),
            History(created=_CREATED, created_by='CMD ["sh"]', empty_layer=True),
        ),
    )
    config_bytes = canonical_json(config.to_json())
    config_digest = Digest.from_bytes(config_bytes)
    manifest = Manifest(
        config=Descriptor(mediatypes.DOCKER_CONFIG, config_digest, len(config_bytes)),
        layers=(Descriptor(mediatypes.DOCKER_LAYER, layer_digest, len(layer)),),
        media_type=mediatypes.DOCKER_MANIFEST,
    )
    manifest_bytes = canonical_json(manifest.to_json())
    manifest_digest = Digest.from_bytes(manifest_bytes)
    blobs = {layer_digest: layer, config_digest: config_bytes, manifest_digest: manifest_bytes}
    entry = SaveEntry(
        manifest_digest=manifest_digest,
        manifest_media_type=manifest.media_type,
        manifest=manifest,
        manifest_size=len(manifest_bytes),
        names=("docker.io/library/busybox:latest",),
        familiar=("busybox:latest",),
    )
    write_archive(out, [entry], lambda d: io.BytesIO(blobs[d]), lambda d: len(blobs[d]))
    return config_digest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wharf.images.busybox OUT.tar", file=sys.stderr)
        return 2
    target = Path(args[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as f:
        image_id = build_archive(f)
    partial.replace(target)
    print(f"busybox:latest {image_id} -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
