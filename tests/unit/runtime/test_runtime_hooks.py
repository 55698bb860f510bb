"""OCI hooks: state on stdin, failures and timeouts become HookFailed / Unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.errors import Unavailable
from wharf.runtime.hooks import HookFailed, run_hook, run_hooks
from wharf.runtime.spec import Hook


def test_state_on_stdin_args_and_env(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = Hook("/bin/sh", ("sh", "-c", f'cat > {out}; echo "$1 $GREETING" >> {out}', "sh", "a1"),
                ("GREETING=hi",))  # fmt: skip
    run_hook(hook, b'{"id":"c1"}', point="prestart")
    assert out.read_text() == '{"id":"c1"}a1 hi\n'


def test_failure_and_signal() -> None:
    with pytest.raises(HookFailed, match="prestart hook /bin/sh: failed with exit status 3"):
        run_hook(Hook("/bin/sh", ("sh", "-c", "exit 3")), b"{}", point="prestart")
    with pytest.raises(HookFailed, match="killed by signal 9"):
        run_hook(Hook("/bin/sh", ("sh", "-c", "kill -9 $$")), b"{}", point="poststop")


def test_timeout_kills_the_hook() -> None:
    with pytest.raises(HookFailed, match="timed out after 1 s"):
        run_hook(Hook("/bin/sleep", ("sleep", "30"), timeout=1), b"{}", point="createRuntime")


def test_missing_program() -> None:
    with pytest.raises(Unavailable, match="/nonexistent/hook: cannot start"):
        run_hook(Hook("/nonexistent/hook"), b"{}", point="poststart")


def test_first_failure_stops_the_rest(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hooks = (Hook("/bin/false"), Hook("/bin/sh", ("sh", "-c", f"touch {marker}")))
    with pytest.raises(HookFailed):
        run_hooks(hooks, b"{}", point="prestart")
    assert not marker.exists()
