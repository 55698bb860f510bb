"""``wharf daemon --runtime runc|crun``: the same docker flows behind a runc-compatible binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, short_root


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_run_and_exec_under_binary_runtime(runtime: str, busybox_tar: Path) -> None:
    d = Daemon(short_root(), runtime=runtime)
    try:
        d.start()
        assert d.docker("load", "-i", str(busybox_tar)).returncode == 0
        result = d.docker("run", "--rm", "busybox", "echo", f"hello-{runtime}")
        assert (result.returncode, result.stdout) == (0, f"hello-{runtime}\n".encode())
        assert d.docker("run", "--rm", "busybox", "no-such-cmd").returncode == 127
        d.docker("run", "-d", "--name", "bg", "busybox", "sleep", "1000")
        assert d.docker("exec", "bg", "echo", "exec-ok").stdout == b"exec-ok\n"
        assert d.docker("rm", "-f", "bg").returncode == 0
        assert b"runtime" not in d.docker("ps", "-a").stderr
    finally:
        d.cleanup()
