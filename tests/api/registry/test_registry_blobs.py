"""Blob pulls and every way of pushing one (OCI distribution-spec "Push" and "Pull")."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import httpx
from registry_flows import digest_of, error_codes, push_blob


def test_base_endpoint_answers_with_the_api_version(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_single_post_then_pull(client: httpx.Client) -> None:
    data = b"hello blob"
    d = push_blob(client, "demo/a", data)
    r = client.get(f"/v2/demo/a/blobs/{d}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == d
    head = client.head(f"/v2/demo/a/blobs/{d}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))


def test_post_then_put_with_the_body(client: httpx.Client) -> None:
    data = b"post then put"
    r = client.post("/v2/demo/a/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in location
    r = client.put(location, params={"digest": digest_of(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["Location"].endswith(f"/v2/demo/a/blobs/{digest_of(data)}")
    assert client.get(f"/v2/demo/a/blobs/{digest_of(data)}").content == data


def test_chunked_upload_with_content_range_and_out_of_order_416(client: httpx.Client) -> None:
    data = bytes(range(256)) * 40
    first, second = data[:4000], data[4000:]
    location = client.post("/v2/demo/c/blobs/uploads/").headers["Location"]
    r = client.patch(
        location,
        content=first,
        headers={
            "Content-Range": f"0-{len(first) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(first) - 1}"
    location = r.headers["Location"]
    # A chunk that does not start where the last one ended is refused, nothing appended.
    bad = client.patch(location, content=second, headers={"Content-Range": f"10-{9 + len(second)}"})
    assert bad.status_code == 416
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(first) - 1}"
    r = client.patch(
        location, content=second, headers={"Content-Range": f"{len(first)}-{len(data) - 1}"}
    )
    assert r.status_code == 202
    r = client.put(r.headers["Location"], params={"digest": digest_of(data)})
    assert r.status_code == 201
    assert client.get(f"/v2/demo/c/blobs/{digest_of(data)}").content == data


def test_streamed_patch_without_content_range(client: httpx.Client) -> None:
    data = b"s" * (3 << 20)

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    location = client.post("/v2/demo/s/blobs/uploads/").headers["Location"]
    r = client.patch(location, content=chunks())
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = client.put(r.headers["Location"], params={"digest": digest_of(data)})
    assert r.status_code == 201
    assert hashlib.sha256(client.get(f"/v2/demo/s/blobs/{digest_of(data)}").content).hexdigest()


def test_final_chunk_in_put_and_sha512(client: httpx.Client) -> None:
    data = b"sha512 content" * 100
    d = digest_of(data, "sha512")
    location = client.post(
        "/v2/demo/x/blobs/uploads/", params={"digest-algorithm": "sha512"}
    ).headers["Location"]
    r = client.patch(location, content=data[:100], headers={"Content-Range": "0-99"})
    r = client.put(
        r.headers["Location"],
        params={"digest": d},
        content=data[100:],
        headers={"Content-Range": f"100-{len(data) - 1}"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == d
    assert client.get(f"/v2/demo/x/blobs/{d}").content == data


def test_wrong_digest_is_digest_invalid_and_nothing_is_visible(client: httpx.Client) -> None:
    data = b"real bytes"
    wrong = digest_of(b"other bytes")
    r = client.post("/v2/demo/w/blobs/uploads/", params={"digest": wrong}, content=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/demo/w/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/demo/w/blobs/{digest_of(data)}").status_code == 404


def test_malformed_digests_are_refused(client: httpx.Client) -> None:
    for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64, "nodigest"):
        r = client.post("/v2/demo/m/blobs/uploads/", params={"digest": bad}, content=b"x")
        assert r.status_code == 400, bad
        assert error_codes(r) == ["DIGEST_INVALID"]
        assert client.get(f"/v2/demo/m/blobs/{bad}").status_code in {400, 404}


def test_put_without_digest_is_refused_and_session_survives(client: httpx.Client) -> None:
    location = client.post("/v2/demo/p/blobs/uploads/").headers["Location"]
    r = client.put(location, content=b"abc")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_cancel_upload_then_it_is_unknown(client: httpx.Client) -> None:
    location = client.post("/v2/demo/k/blobs/uploads/").headers["Location"]
    assert client.delete(location).status_code == 204
    r = client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    bogus = location.rsplit("/", 1)[0] + "/..%2F..%2Fetc"
    assert client.get(bogus).status_code == 404


def test_range_requests_and_416(client: httpx.Client) -> None:
    data = bytes(range(100))
    d = push_blob(client, "demo/r", data)
    r = client.get(f"/v2/demo/r/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    r = client.get(f"/v2/demo/r/blobs/{d}", headers={"Range": "bytes=90-"})
    assert r.status_code == 206
    assert r.content == data[90:]
    assert r.headers["Content-Range"] == "bytes 90-99/100"
    r = client.get(f"/v2/demo/r/blobs/{d}", headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    for bad in ("bytes=500-600", "bytes=-0", "bytes=9-3", "bytes=0-1,5-6"):
        r = client.get(f"/v2/demo/r/blobs/{d}", headers={"Range": bad})
        assert r.status_code == 416, bad
    r = client.get(f"/v2/demo/r/blobs/{d}", headers={"Range": "lines=1-2"})
    assert r.status_code == 200
    assert r.content == data


def test_cross_repository_mount_and_fallback(client: httpx.Client) -> None:
    data = b"mount me"
    d = push_blob(client, "demo/src", data)
    r = client.post("/v2/demo/dst/blobs/uploads/", params={"mount": d, "from": "demo/src"})
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == d
    assert client.get(f"/v2/demo/dst/blobs/{d}").content == data
    unknown = digest_of(b"never pushed")
    r = client.post("/v2/demo/dst/blobs/uploads/", params={"mount": unknown, "from": "demo/src"})
    assert r.status_code == 202
    assert "/blobs/uploads/" in r.headers["Location"]


def test_blob_of_another_repository_is_not_visible(client: httpx.Client) -> None:
    d = push_blob(client, "demo/one", b"private to one")
    r = client.get(f"/v2/demo/two/blobs/{d}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_delete_blob(client: httpx.Client) -> None:
    d = push_blob(client, "demo/del", b"delete me")
    assert client.delete(f"/v2/demo/del/blobs/{d}").status_code == 202
    assert client.head(f"/v2/demo/del/blobs/{d}").status_code == 404
    assert client.delete(f"/v2/demo/del/blobs/{d}").status_code == 404


def test_invalid_names_are_name_invalid(client: httpx.Client) -> None:
    for name in ("Upper/case", "a//b", "-lead", "a/../b", "a/%2e%2e/b", "x" * 300):
        r = client.get(f"/v2/{name}/tags/list")
        assert r.status_code in {400, 404}, name
        if r.status_code == 400:
            assert error_codes(r) == ["NAME_INVALID"]
    r = client.post("/v2/Upper/blobs/uploads/")
    assert error_codes(r) == ["NAME_INVALID"]


def test_concurrent_pushes_of_the_same_blob(client: httpx.Client, registry) -> None:  # type: ignore[no-untyped-def]
    data = b"same" * 500_000
    results: list[int] = []

    def push() -> None:
        with httpx.Client(base_url=registry.url, timeout=30) as c:
            r = c.post(
                "/v2/demo/same/blobs/uploads/", params={"digest": digest_of(data)}, content=data
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 4
    assert client.get(f"/v2/demo/same/blobs/{digest_of(data)}").content == data


def test_interrupted_upload_resumes_and_stalled_client_times_out(start_registry) -> None:  # type: ignore[no-untyped-def]
    reg = start_registry(read_timeout=0.5)
    with httpx.Client(base_url=reg.url, timeout=30) as c:
        location = c.post("/v2/demo/stall/blobs/uploads/").headers["Location"]
        path = location.split(reg.url, 1)[1]
        port = int(reg.url.rsplit(":", 1)[1])
        # A client announces 1000 bytes, sends 300, then stalls.
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode()
                + b"a" * 300
            )
            s.settimeout(10)
            answer = s.recv(4096)
        assert b"BLOB_UPLOAD_INVALID" in answer or answer == b""
        deadline = time.monotonic() + 5
        while True:
            status = c.get(location)
            if status.headers.get("Range") == "0-299" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-299"
        rest = b"a" * 700
        r = c.patch(location, content=rest, headers={"Content-Range": "300-999"})
        assert r.status_code == 202
        d = digest_of(b"a" * 1000)
        assert c.put(location, params={"digest": d}).status_code == 201
        assert c.get(f"/v2/demo/stall/blobs/{d}").content == b"a" * 1000


def test_abandoned_uploads_expire(start_registry) -> None:  # type: ignore[no-untyped-def]
    reg = start_registry(upload_purge_age=0.2)
    with httpx.Client(base_url=reg.url, timeout=30) as c:
        location = c.post("/v2/demo/old/blobs/uploads/").headers["Location"]
        c.patch(location, content=b"abandoned", headers={"Content-Range": "0-8"})
        deadline = time.monotonic() + 10
        while c.get(location).status_code == 204 and time.monotonic() < deadline:
            time.sleep(0.1)
        r = c.get(location)
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_chunk_length_must_match_its_range_and_uploads_stay_in_their_repo(
    client: httpx.Client,
) -> None:
    location = client.post("/v2/demo/len/blobs/uploads/").headers["Location"]
    r = client.patch(location, content=b"12345", headers={"Content-Range": "0-9"})
    assert r.status_code == 400
    assert error_codes(r) == ["SIZE_INVALID"]
    assert client.get(location).headers["Range"] == "0-0"
    other = location.replace("/demo/len/", "/demo/other/")
    r = client.patch(other, content=b"x")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_a_blob_is_invisible_until_its_upload_is_committed(client: httpx.Client) -> None:
    data = b"z" * 100_000
    d = digest_of(data)
    location = client.post("/v2/demo/vis/blobs/uploads/").headers["Location"]
    client.patch(location, content=data[:50_000], headers={"Content-Range": "0-49999"})
    assert client.head(f"/v2/demo/vis/blobs/{d}").status_code == 404
    assert client.get(f"/v2/demo/vis/blobs/{d}").status_code == 404
    client.patch(location, content=data[50_000:], headers={"Content-Range": "50000-99999"})
    assert client.head(f"/v2/demo/vis/blobs/{d}").status_code == 404
    assert client.put(location, params={"digest": d}).status_code == 201
    assert client.get(f"/v2/demo/vis/blobs/{d}").content == data
