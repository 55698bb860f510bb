"""``ADD <url>`` as dockerd's classic builder does it, against a small HTTP server on
127.0.0.1: the file lands under the URL's name (or the destination's, or the
Content-Disposition's), mode 0600, owned by root, mtime from Last-Modified, a remote tar is
not extracted, the cache follows the content, and an HTTP error names the URL and the line."""

from __future__ import annotations

import contextlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.build.test_docker_build import docker_build
from tests.e2e.daemon.harness import Daemon

PORTS = range(15700, 15750)
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
LAST_MODIFIED_EPOCH = 1445412480


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("inside.txt")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"inside\n"))
    return buf.getvalue()


class Files:
    """What the server serves: path -> (body, extra headers); ``hits`` counts GETs."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, dict[str, str]]] = {
            "/files/hello.txt": (b"hello\n", {"Last-Modified": LAST_MODIFIED}),
            "/files/archive.tar": (_tar(), {}),
            "/dl/": (b"named\n", {"Content-Disposition": 'attachment; filename="named.bin"'}),
            "/var.txt": (b"one\n", {}),
        }
        self.hits: dict[str, int] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Files]]:
    files = Files()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            files.hits[self.path] = files.hits.get(self.path, 0) + 1
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "/files/hello.txt")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            found = files.routes.get(self.path.partition("?")[0])
            if found is None:
                self.send_error(404)
                return
            body, headers = found
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = None
    for port in PORTS:
        with contextlib.suppress(OSError):
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
    assert httpd is not None, "no free port in 15700-15749"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _build_dirs(daemon: Daemon) -> set[str]:
    return {p.name for p in (daemon.root / "data" / "build").glob("*") if p.is_dir()}


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
    url, files = server
    files.routes["/plain/"] = (b"plain\n", {})
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
