"""OCI hooks: run a hook program with the container's state JSON on its stdin.

Who runs what (runtime-spec "Lifecycle"): ``prestart`` and ``createRuntime`` run in the
runtime's namespaces once the container's namespaces exist, before pivot_root;
``createContainer`` runs in the container's mount namespace before pivot_root and
``startContainer`` in the container just before execve (both by the clone child);
``poststart`` after start and ``poststop`` after delete (by the runtime). A failing hook
before start aborts the container; poststart/poststop failures are reported but do not
undo anything.

Also safe in the clone child: only ``os`` calls, no imports.
"""

from __future__ import annotations

import contextlib
import os
import select

from wharf.errors import FailedPrecondition, Unavailable
from wharf.runtime.spec import Hook

__all__ = ["HookFailed", "run_hook", "run_hooks"]


class HookFailed(FailedPrecondition):
    """A hook exited non-zero, was killed, or overran its timeout."""


def run_hook(hook: Hook, state: bytes, *, point: str) -> None:
    """Run ``hook`` with ``state`` on stdin and wait for it (up to ``hook.timeout`` s).

    Raises:
        HookFailed: it exited non-zero, was killed or timed out (then it is killed).
        Unavailable: the program could not be started.
    """
    r, w = os.pipe()
    try:
        pid = os.posix_spawn(
            hook.path,
            list(hook.args) or [hook.path],
            dict(e.split("=", 1) for e in hook.env),
            file_actions=[(os.POSIX_SPAWN_DUP2, r, 0)],
        )
    except OSError as exc:
        os.close(r)
        os.close(w)
        raise Unavailable(f"{point} hook {hook.path}: cannot start: {exc.strerror}") from None
    os.close(r)
    with contextlib.suppress(BrokenPipeError):
        os.write(w, state)
    os.close(w)
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], hook.timeout)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise HookFailed(f"{point} hook {hook.path}: timed out after {hook.timeout} s")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        how = f"exit status {code}" if code > 0 else f"killed by signal {-code}"
        raise HookFailed(f"{point} hook {hook.path}: failed with {how}")


def run_hooks(hooks: tuple[Hook, ...], state: bytes, *, point: str) -> None:
    """Run ``hooks`` in order; the first failure stops the rest."""
    for hook in hooks:
        run_hook(hook, state, point=point)
