"""A small HTTP server on 127.0.0.1 (ports 15700-15749) serving files for ``ADD <url>``
tests: fixed routes with headers, a redirect, 404 for the rest, and a count of GETs."""

from __future__ import annotations

import contextlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator

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
            "/plain/": (b"plain\n", {}),  # no file name in the URL nor in the headers
        }
        self.hits: dict[str, int] = {}


@contextlib.contextmanager
def serve_files() -> Iterator[tuple[str, Files]]:
    """Serve a fresh :class:`Files`; yields its base URL and it."""
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
