"""The private daemon of tests/e2e/daemon, shared: one per module, busybox loaded."""

from __future__ import annotations

from tests.e2e.daemon.conftest import busybox_tar, daemon

__all__ = ["busybox_tar", "daemon"]
