"""Dockerfile builds (the classic builder's model).

Pipeline: :mod:`wharf.build.dockerfile` parses the text into instructions with line numbers;
:mod:`wharf.build.context` extracts the context tar safely and applies ``.dockerignore``;
:mod:`wharf.build.evaluator` walks the stages and hands each step to
:mod:`wharf.build.dispatchers`, which decide config changes and cache keys and call a
:class:`~wharf.build.evaluator.BuildBackend` for every effect (run a container, copy into a new
layer, commit a config, tag). :mod:`wharf.build.copier` holds COPY/ADD's file semantics over
host directories, for the backend to apply to mounted snapshots. Nothing here knows about
HTTP, containers or the image store: the daemon implements the backend.
"""

from wharf.build.evaluator import (
    BuildBackend,
    BuildFailed,
    BuildOptions,
    CopyStep,
    Download,
    Emit,
    RunFailed,
    RunStep,
    build,
)

__all__ = [
    "BuildBackend",
    "BuildFailed",
    "BuildOptions",
    "CopyStep",
    "Download",
    "Emit",
    "RunFailed",
    "RunStep",
    "build",
]
