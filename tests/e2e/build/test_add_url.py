"""``ADD <url>`` as dockerd's classic builder does it, against a small HTTP server on
127.0.0.1: the file lands under the URL's name (or the destination's, or the
Content-Disposition's), mode 0600, owned by root, mtime from Last-Modified, a remote tar is
not extracted, the cache follows the content, and an HTTP error names the URL and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.build.httpfiles import LAST_MODIFIED_EPOCH, Files
from tests.e2e.build.test_docker_build import docker_build
from tests.e2e.daemon.harness import Daemon


def _build_dirs(daemon: Daemon) -> set[str]:
    return {p.name for p in (daemon.root / "data" / "build").iterdir()} - {"build-cache.json"}


def test_add_url_lands_as_dockerd_puts_it(
    daemon: Daemon, server: tuple[str, Files], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        f"ADD {url}/files/hello.txt /dl/\n"
        f"ADD {url}/files/archive.tar /dl/\n"
        f"ADD {url}/files/hello.txt /renamed.txt\n"
        f"ADD {url}/dl/ /dl/\n"
        "RUN stat -c '%n %a %u:%g %Y' /dl/hello.txt /renamed.txt /dl/archive.tar /dl/named.bin"
        " > /stat && ls /dl > /listing\n"
    )
    result = docker_build(daemon, tmp_path, "-t", "addurl:1")
    assert result.returncode == 0, result.stdout + result.stderr
    stat = daemon.docker("run", "--rm", "addurl:1", "cat", "/stat").stdout.decode().splitlines()
    assert stat[0] == f"/dl/hello.txt 600 0:0 {LAST_MODIFIED_EPOCH}"
    assert stat[1] == f"/renamed.txt 600 0:0 {LAST_MODIFIED_EPOCH}"
    assert stat[2] == "/dl/archive.tar 600 0:0 0"  # no Last-Modified: the epoch
    assert stat[3] == "/dl/named.bin 600 0:0 0"
    # a remote tar is copied as is, never extracted
    listing = daemon.docker("run", "--rm", "addurl:1", "cat", "/listing").stdout.decode()
    assert listing.split() == ["archive.tar", "hello.txt", "named.bin"]
    copied = daemon.docker("run", "--rm", "addurl:1", "cat", "/renamed.txt", "/dl/named.bin")
    assert copied.stdout == b"hello\nnamed\n"


def test_add_url_cache_follows_the_content(
    daemon: Daemon, server: tuple[str, Files], tmp_path: Path
) -> None:
    url, files = server
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nADD {url}/var.txt /v\nRUN cat /v > /copy\n"
    )
    files.routes["/var.txt"] = (b"one\n", {})
    first = docker_build(daemon, tmp_path, "-t", "addurl:var")
    assert first.returncode == 0, first.stdout + first.stderr
    again = docker_build(daemon, tmp_path, "-t", "addurl:var")
    assert again.stdout.count("Using cache") == 2
    files.routes["/var.txt"] = (b"two\n", {})
    changed = docker_build(daemon, tmp_path, "-t", "addurl:var")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "Using cache" not in changed.stdout  # fetched again, new content: a miss
    assert daemon.docker("run", "--rm", "addurl:var", "cat", "/copy").stdout == b"two\n"
    assert files.hits["/var.txt"] == 3  # fetched on every build, hit or miss


@pytest.mark.parametrize("path", ["/missing", "/files/"])
def test_add_url_errors_name_the_url_and_line(
    daemon: Daemon, server: tuple[str, Files], tmp_path: Path, path: str
) -> None:
    url, _ = server
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN true\nADD {url}{path} /x/\n")
    kept = _build_dirs(daemon)
    result = docker_build(daemon, tmp_path, "-t", "addurl:bad")
    assert result.returncode == 1
    message = {
        "/missing": f"line 3: ADD failed: failed to GET {url}/missing with status 404 Not Found",
        "/files/": f"line 3: ADD failed: failed to GET {url}/files/ with status 404",
    }[path]
    assert message in result.stdout + result.stderr
    assert daemon.docker("image", "inspect", "addurl:bad").returncode != 0
    assert _build_dirs(daemon) <= kept


def test_add_url_without_a_file_name_needs_a_destination_file(
    daemon: Daemon, server: tuple[str, Files], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url}/plain/ /x/\n")
    result = docker_build(daemon, tmp_path, "-t", "addurl:noname")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert f"line 2: ADD failed: cannot determine filename for source {url}/plain/" in out
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url}/plain/ /x/given\n")
    named = docker_build(daemon, tmp_path, "-t", "addurl:noname")
    assert named.returncode == 0, named.stdout + named.stderr
    assert daemon.docker("run", "--rm", "addurl:noname", "cat", "/x/given").stdout == b"plain\n"


def test_add_url_follows_redirects_and_names_the_file_after_the_url_asked_for(
    daemon: Daemon, server: tuple[str, Files], tmp_path: Path
) -> None:
    url, _ = server
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nADD {url}/redirect /r/\nADD {url}/files/hello.txt?v=2 /q/\n"
    )
    result = docker_build(daemon, tmp_path, "-t", "addurl:redirect")
    assert result.returncode == 0, result.stdout + result.stderr
    run = daemon.docker("run", "--rm", "addurl:redirect", "cat", "/r/redirect", "/q/hello.txt")
    assert run.stdout == b"hello\nhello\n"
