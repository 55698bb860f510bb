"""``docker system prune`` and ``docker builder prune`` through the real docker CLI."""

from __future__ import annotations

from tests.e2e.daemon.harness import Daemon


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_system_prune_removes_what_nothing_uses(daemon: Daemon) -> None:
    _ok(daemon.docker("run", "-d", "--name", "keeps", "busybox", "sleep", "300"))
    _ok(daemon.docker("run", "--name", "stopped", "busybox", "true"))
    _ok(daemon.docker("network", "create", "unused"))
    try:
        report = _ok(daemon.docker("system", "prune", "-f"))
        assert "stopped" not in _ok(daemon.docker("ps", "-a", "--format", "{{.Names}}"))
        assert "keeps" in _ok(daemon.docker("ps", "--format", "{{.Names}}"))
        assert "unused" not in _ok(daemon.docker("network", "ls", "--format", "{{.Name}}"))
        assert "Total reclaimed space" in report
        assert _ok(daemon.docker("builder", "prune", "-f")).startswith("Total reclaimed space: 0B")
    finally:
        daemon.docker("rm", "-f", "keeps", "stopped")
        daemon.docker("network", "rm", "unused")
