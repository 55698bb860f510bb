"""Session fixtures for the registry's end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_peers import make_oci_layout, temp_dir
from tests.peers import private_dockerd


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


@pytest.fixture
def dockerd() -> Iterator[dict[str, str]]:
    """A private dockerd; yields the environment for the docker CLI."""
    state = temp_dir("dk")
    try:
        with private_dockerd(state) as env:
            yield env
    finally:
        shutil.rmtree(state, ignore_errors=True)
