"""Helpers of the rtcg privileged tests (cgroups, seccomp, capabilities): a unique cgroup
path, a child joined to a cgroup, a forked child returning text, and runc as reference."""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wharf.runtime.cgroups import Cgroup, open_cgroup

BUSYBOX = "/bin/busybox"
PREFIX = "/rtcg-test-"


def new_path() -> str:
    return f"{PREFIX}{secrets.token_hex(4)}"


def leftovers(path: str) -> list[str]:
    """Directories of ``path`` in any cgroup hierarchy (v1 and unified)."""
    return glob.glob(f"/sys/fs/cgroup/*{path}") + glob.glob(f"/sys/fs/cgroup/*/*{path}")


@pytest.fixture
def cg_path() -> Iterator[str]:
    path = new_path()
    try:
        yield path
    finally:
        for version in ("v1", "v2"):
            open_cgroup(path, version=version).destroy(kill=True)  # type: ignore[arg-type]
        assert leftovers(path) == []


def run_in(cg: Cgroup, code: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start ``python -c code`` already inside ``cg``: the forked child writes b"0" to the
    join fds before exec, as the runtime's clone child does."""
    fds = cg.join_fds()

    def join() -> None:
        for fd in fds:
            os.write(fd, b"0")

    try:
        # The test process is single-threaded, so preexec_fn is safe here; it plays the
        # part of the runtime's clone child joining before execve.
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            [sys.executable, "-S", "-c", code],
            preexec_fn=join,  # noqa: PLW1509
            **kwargs,
        )
    finally:
        for fd in fds:
            os.close(fd)


def in_child(fn: Callable[[], str]) -> tuple[int, str]:
    """Fork, run ``fn`` in the child, and return (wait status, its result or traceback).

    The test process is single-threaded when this runs, so forking it is safe; the child
    leaves with os._exit and never returns into pytest.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            out = fn()
        except BaseException:
            out = traceback.format_exc()
            code = 1
        try:
            os.write(w, out.encode())
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode()


def exec_in_child(prepare: Callable[[], None], argv: list[str]) -> tuple[int, str, str]:
    """Fork, run ``prepare`` (apply caps, load seccomp...), exec ``argv``.

    Returns:
        (exit code, stdout, stderr) of the exec'd program (127 if prepare failed).
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            prepare()
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        stdout, stderr = out.read().decode(), err.read().decode()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), stdout, stderr


@pytest.fixture
def runc_bundle() -> Iterator[Path]:
    """A bundle from ``runc spec`` with a rootfs holding only busybox."""
    bundle = Path(f"/tmp/rtcg-bundle-{secrets.token_hex(4)}")
    (bundle / "rootfs/bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, bundle / "rootfs/bin/busybox")
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    try:
        yield bundle
    finally:
        shutil.rmtree(bundle)


def run_runc(
    bundle: Path, args: list[str], *, process: dict[str, Any] | None = None,
    linux: dict[str, Any] | None = None,
) -> tuple[int, str, str, dict[str, Any]]:  # fmt: skip
    """``runc run`` the bundle with ``args`` and the spec's process/linux sections edited.

    Returns:
        (exit code, stdout, stderr, the config that ran).
    """
    tag = bundle.name.rsplit("-", 1)[1]
    config = json.loads((bundle / "config.json").read_text())
    config["process"].update(process or {})
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["linux"].update(linux or {})
    config["linux"]["cgroupsPath"] = f"{PREFIX}runc-{tag}"
    (bundle / "config.json").write_text(json.dumps(config))
    root = f"/tmp/rtcg-runc-root-{tag}"
    name = f"rtcg-{tag}-{secrets.token_hex(2)}"
    try:
        done = subprocess.run(
            ["runc", "--root", root, "run", "--bundle", str(bundle), name],
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(
            ["runc", "--root", root, "delete", "--force", name], check=False, capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
    return done.returncode, done.stdout.decode(), done.stderr.decode(), config
