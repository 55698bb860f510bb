"""Bundles and runners for comparing ``wharf-runtime`` with runc on the real kernel.

A bundle is a temp dir under /tmp/rtcore-* with a busybox rootfs (the static busybox of
Debian's busybox-static plus one symlink per applet) and a config.json that mirrors
``runc spec`` (terminal off). Fixtures clean up everything even when a test fails:
containers (force-deleted through the runtime that made them), state roots, cgroups
named after the test's ids.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wharf.runtime.template import default_config

WHARF_RUNTIME = str(Path(sys.executable).parent / "wharf-runtime")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
BUSYBOX = "/bin/busybox"


def runc_spec(args: list[str]) -> dict[str, Any]:
    """What ``runc spec`` writes (runc 1.1), with ``terminal: false`` and ``args``.

    ``wharf-runtime spec`` prints the same object (a test compares it with ``runc spec``).
    """
    spec = default_config()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    return spec


def make_rootfs(path: Path) -> None:
    """A busybox rootfs with /etc/passwd and /etc/group and an unexecutable file."""
    (path / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, path / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (path / "bin" / applet).symlink_to("busybox")
    (path / "etc").mkdir()
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (path / "etc" / "group").write_text("root:x:0:\ntty:x:5:\n")
    for d in ("proc", "sys", "dev", "tmp", "root"):
        (path / d).mkdir()
    (path / "notexec").write_text("#!/bin/sh\necho no\n")
    (path / "notexec").chmod(0o644)
    (path / "hook-start.sh").write_text("#!/bin/sh\ncat > /dev/shm/start-state.json\n")
    (path / "hook-start.sh").chmod(0o755)


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Runtimes:
    """A private state root per runtime and unique container ids; cleans up at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots = {"wharf": str(base / "state-wharf"), "runc": str(base / "state-runc")}
        self.ids: list[tuple[str, str]] = []

    def new_id(self, runtime: str, name: str = "c") -> str:
        cid = f"rtcore-{name}-{uuid.uuid4().hex[:8]}"
        self.ids.append((runtime, cid))
        return cid

    def cmd(self, runtime: str, *args: str) -> list[str]:
        binary = WHARF_RUNTIME if runtime == "wharf" else RUNC
        return [binary, "--root", self.roots[runtime], *args]

    def call(
        self, runtime: str, *args: str, timeout: float = 60, stdin: str | None = None
    ) -> Result:
        # Files, not pipes: a detached container keeps its stdio open after we return.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(
                self.cmd(runtime, *args),
                check=False,
                stdout=out,
                stderr=err,
                timeout=timeout,
                input=None if stdin is None else stdin.encode(),
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
            out.seek(0)
            err.seek(0)
            return Result(p.returncode, out.read().decode(), err.read().decode())

    def state(self, runtime: str, cid: str) -> dict[str, Any]:
        r = self.call(runtime, "state", cid)
        assert r.rc == 0, r.err
        return dict(json.loads(r.out))

    def cleanup(self) -> None:
        for runtime, cid in self.ids:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    self.cmd(runtime, "delete", "--force", cid),
                    check=False,
                    capture_output=True,
                    timeout=30,
                )
            for ctrl in os.listdir("/sys/fs/cgroup"):
                for parent in (f"/sys/fs/cgroup/{ctrl}", *_own_cgroup_dirs(ctrl)):
                    with contextlib.suppress(OSError):
                        os.rmdir(f"{parent}/{cid}")


def _own_cgroup_dirs(ctrl: str) -> list[str]:
    """runc puts containers without cgroupsPath under the caller's own cgroup."""
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.strip().split(":", 2)
            if ctrl in controllers.split(",") and path != "/":
                out.append(f"/sys/fs/cgroup/{ctrl}{path}")
    return out


@pytest.fixture(scope="session")
def rootfs() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rtcore-rootfs-"))
    base.chmod(0o755)  # root of a user namespace is "other" here
    try:
        make_rootfs(base / "rootfs")
        yield base / "rootfs"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def runtimes() -> Iterator[Runtimes]:
    base = Path(tempfile.mkdtemp(prefix="rtcore-test-"))
    rt = Runtimes(base)
    try:
        yield rt
    finally:
        rt.cleanup()
        shutil.rmtree(base, ignore_errors=True)


BundleFactory = Callable[..., str]


@pytest.fixture
def make_bundle(rootfs: Path, runtimes: Runtimes) -> BundleFactory:
    """``make_bundle(args, edit=None)`` -> bundle dir; ``edit(config)`` may change it."""
    count = 0

    def factory(args: list[str], edit: Callable[[dict[str, Any]], None] | None = None) -> str:
        nonlocal count
        count += 1
        bundle = runtimes.base / f"bundle{count}"
        bundle.mkdir()
        config = copy.deepcopy(runc_spec(args))
        config["root"]["path"] = str(rootfs)
        if edit is not None:
            edit(config)
        (bundle / "config.json").write_text(json.dumps(config))
        return str(bundle)

    return factory


def leftovers(cid: str) -> list[str]:
    """Anything ``cid`` left on the host: cgroups, mounts, processes."""
    found = []
    for ctrl in os.listdir("/sys/fs/cgroup"):
        for parent in (f"/sys/fs/cgroup/{ctrl}", *_own_cgroup_dirs(ctrl)):
            if os.path.isdir(f"{parent}/{cid}"):
                found.append(f"cgroup {parent}/{cid}")
    with open("/proc/self/mountinfo") as f:
        found.extend(f"mount {line.split()[4]}" for line in f if cid in line)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if cid.encode() in cmdline:
                    found.append(f"process {pid}")
    return found
