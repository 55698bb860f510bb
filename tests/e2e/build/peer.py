"""The classic-builder peer (Debian's dockerd 20.10 via :mod:`tests.peers`) and a way to
compare what two engines built. Also used by ``benchmarks/build_*.py``."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from tests.peers import DOCKER, DockerdPeer, dockerd_peer

__all__ = ["DOCKER", "DockerdPeer", "dockerd_peer", "listing"]

# created by a container's runtime, not by a build
RUNTIME_PATHS = frozenset(
    {".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}
)


def listing(docker: object, image: str) -> dict[str, tuple[str, int, int, int, str]]:
    """The image's filesystem via ``docker create`` + ``export``: path -> (type, mode, uid,
    gid, content sha256 or link target); runtime-made paths left out, and so are the
    image's VOLUME directories when they are empty (Wharf makes the mount point when it
    creates the container, dockerd when it starts it: not the build's doing)."""
    run = docker  # a Daemon or DockerdPeer: both have .docker(*args)
    inspect = run.docker("image", "inspect", "-f", "{{json .Config.Volumes}}", image)  # type: ignore[attr-defined]
    volumes = {v.strip("/") for v in json.loads(inspect.stdout or b"null") or {}}
    created = run.docker("create", image)  # type: ignore[attr-defined]
    assert created.returncode == 0, created.stderr
    cid = created.stdout.decode().strip()
    try:
        exported = run.docker("export", cid)  # type: ignore[attr-defined]
        assert exported.returncode == 0, exported.stderr
    finally:
        run.docker("rm", "-f", cid)  # type: ignore[attr-defined]
    out: dict[str, tuple[str, int, int, int, str]] = {}
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        for member in tar:
            name = member.name.strip("/").removeprefix("./")
            top = name.split("/")[0]
            if not name or name in RUNTIME_PATHS or top in ("dev", "proc", "sys"):
                continue
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                detail = hashlib.sha256(data.read()).hexdigest()[:16]
            else:
                detail = member.linkname
            kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "link", tarfile.LNKTYPE: "hard"}
            out[name] = (
                kind.get(member.type, "file"),
                member.mode & 0o7777,
                member.uid,
                member.gid,
                detail,
            )
    for name in volumes:
        if name in out and out[name][0] == "dir" and not any(p.startswith(name + "/") for p in out):
            del out[name]
    return out
