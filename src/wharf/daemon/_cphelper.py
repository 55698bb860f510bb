"""``docker cp`` worker: a short-lived process chrooted into a container's root filesystem.

Run as ``python -m wharf.daemon._cphelper stat|get|put ROOT PATH [NO_OVERWRITE]``. Everything is
imported first, then the process chroots into ROOT, so paths and symlinks inside the container
resolve inside it and can never reach the host. ``get`` writes a tar stream to stdout; ``put``
extracts the tar stream on stdin into the directory PATH with tarfile's ``tar`` filter (no
absolute names, no ``..``, no links out). Errors: one line on stderr and exit status 2 (not
found), 3 (invalid) or 4 (other).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile
from datetime import UTC, datetime

_NOT_FOUND = 2
_INVALID = 3
_OTHER = 4


def _go_mode(st: os.stat_result) -> int:
    """Go's os.FileMode bits (what the docker CLI decodes)."""
    mode = st.st_mode & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= 1 << 31
    elif stat.S_ISLNK(st.st_mode):
        mode |= 1 << 27
    elif stat.S_ISFIFO(st.st_mode):
        mode |= 1 << 25
    elif stat.S_ISSOCK(st.st_mode):
        mode |= 1 << 24
    elif stat.S_ISCHR(st.st_mode):
        mode |= (1 << 26) | (1 << 21)
    elif stat.S_ISBLK(st.st_mode):
        mode |= 1 << 26
    if st.st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st.st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st.st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def _resolve(path: str) -> str:
    """Resolve all but the last component (docker cp stats a symlink itself)."""
    path = os.path.normpath("/" + path)
    parent, base = os.path.split(path)
    return os.path.join(os.path.realpath(parent), base) if base else "/"


def _stat(path: str) -> dict[str, object]:
    resolved = _resolve(path)
    st = os.lstat(resolved)
    mtime = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "name": os.path.basename(resolved) or "/",
        "size": st.st_size,
        "mode": _go_mode(st),
        "mtime": mtime,
        "linkTarget": os.readlink(resolved) if stat.S_ISLNK(st.st_mode) else "",
    }


def _get(path: str) -> None:
    resolved = _resolve(path)
    os.lstat(resolved)
    name = os.path.basename(resolved) or "."
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(resolved, arcname=name)


def _put(path: str, no_overwrite_dir_non_dir: bool) -> None:
    dest = os.path.realpath(os.path.normpath("/" + path))
    if not os.path.isdir(dest):
        raise NotADirectoryError(f"{path} is not a directory")
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|*") as tar:
        for member in tar:
            target = os.path.join(dest, member.name)
            if no_overwrite_dir_non_dir and os.path.lexists(target):
                existing_dir = os.path.isdir(target) and not os.path.islink(target)
                if existing_dir != member.isdir():
                    raise IsADirectoryError(
                        f"cannot overwrite {'directory' if existing_dir else 'non-directory'} "
                        f"{member.name!r} with {'directory' if member.isdir() else 'non-directory'}"
                    )
            tar.extract(member, dest, filter="tar")


def main(argv: list[str]) -> int:
    """Entry point; returns the exit status."""
    verb, root, path = argv[0], argv[1], argv[2]
    try:
        os.chroot(root)
        os.chdir("/")
        if verb == "stat":
            sys.stdout.write(json.dumps(_stat(path)))
        elif verb == "get":
            _get(path)
        elif verb == "put":
            _put(path, len(argv) > 3 and argv[3] == "1")
        else:
            sys.stderr.write(f"unknown verb {verb!r}\n")
            return _INVALID
    except FileNotFoundError:
        sys.stderr.write(f"Could not find the file {path} in container\n")
        return _NOT_FOUND
    except (NotADirectoryError, IsADirectoryError, tarfile.TarError) as exc:
        sys.stderr.write(f"{exc}\n")
        return _INVALID
    except OSError as exc:
        sys.stderr.write(f"{exc}\n")
        return _OTHER
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
