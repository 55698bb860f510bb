"""A created container's pid 1 waits for its start in wharf-start-exec (the static helper
built by scripts/setup) when its seccomp filter allows that, and in the set-up process
otherwise; either way the process starts with exactly what the spec says."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import (  # type: ignore[import-not-found]
    base_spec,
    create,
    log_entries,
    rootfs,
    runtime_fixture,
    wait_exit,
)

from wharf.runtime.engine import MonitoredRuntime
from wharf.runtime.init import START_EXEC

__all__ = ["base_spec", "rootfs"]  # fixtures, used by name

# The process prints its fds (ls's own directory fd among them), the environment it was
# started with, and its no_new_privs and seccomp state.
_REPORT = (
    "ls /proc/self/fd; tr '\\0' '\\n' </proc/1/environ | sort;"
    " grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"
)
# How long pid 1 is given to exec the helper after create returns (it takes ~2 ms).
_SETTLE = 0.5


@pytest.fixture
def wharf_runtime() -> Iterator[MonitoredRuntime]:
    yield from runtime_fixture("wharf")


def _start_and_report(
    rt: MonitoredRuntime, base: dict[str, Any], cid: str, **process: Any
) -> tuple[str, list[str]]:
    """Create ``cid`` running _REPORT, note what its pid 1 runs while created (once it is
    past the exec of the helper, if it is to make it), start it, and return that
    executable and the process's output lines."""
    log = create(rt, base, cid, ["sh", "-c", _REPORT], **process)
    exe = f"/proc/{rt.state(cid).pid}/exe"
    deadline = time.monotonic() + _SETTLE
    while os.readlink(exe) != START_EXEC and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = os.readlink(exe)
    fd = rt.exit_fd(cid)
    rt.start(cid)
    wait_exit(fd)
    assert rt.state(cid).exit_code == 0
    return waiting, "".join(e["log"] for e in log_entries(log)).split()


def test_pid1_waits_in_the_helper_and_starts_with_only_its_own_fds_and_env(
    wharf_runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    assert os.access(START_EXEC, os.X_OK), "scripts/setup builds wharf-start-exec"
    env = ["PATH=/bin", "A=1", "B=two=2"]
    waiting, out = _start_and_report(wharf_runtime, base_spec, "rtengine-se1", env=env)
    assert waiting == START_EXEC
    fds = out[: out.index("A=1")]
    assert fds == ["0", "1", "2", "3"]  # 3: ls's directory
    assert out[out.index("A=1") : out.index("NoNewPrivs:")] == sorted(
        [*env, "HOME=/"]
    )  # no /etc/passwd


def test_a_filter_that_forbids_the_helper_keeps_the_wait_in_the_set_up_process(
    wharf_runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}],
    }
    spec = {**base_spec, "linux": {**base_spec["linux"], "seccomp": seccomp}}
    waiting, out = _start_and_report(wharf_runtime, spec, "rtengine-se2", noNewPrivileges=False)
    assert waiting != START_EXEC
    assert out[-4:] == ["NoNewPrivs:", "0", "Seccomp:", "2"]


def test_no_new_privs_and_the_filter_are_in_force_after_the_helper(
    wharf_runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO"}],
    }
    spec = {**base_spec, "linux": {**base_spec["linux"], "seccomp": seccomp}}
    waiting, out = _start_and_report(wharf_runtime, spec, "rtengine-se3", noNewPrivileges=True)
    assert waiting == START_EXEC
    assert out[-4:] == ["NoNewPrivs:", "1", "Seccomp:", "2"]
