"""Session fixtures for the registry's end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_peers import make_oci_layout, temp_dir


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = temp_dir("e2e")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def oci_layout(workdir: Path) -> Path:
    return make_oci_layout(workdir / "layout")
