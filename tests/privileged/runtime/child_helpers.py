"""Run a function in a forked child and get back what it returns (as text)."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable


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
