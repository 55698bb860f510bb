"""Manifests, tags, referrers, catalog and deletion (spec "Push", "Content Discovery")."""

from __future__ import annotations

import json

import httpx
from registry_flows import (
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    error_codes,
    manifest_for,
    push_blob,
    push_image,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def test_push_and_pull_by_tag_and_digest(client: httpx.Client) -> None:
    d = push_image(client, "demo/img", "v1")
    for ref in ("v1", d):
        r = client.get(f"/v2/demo/img/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == d
        assert digest_of(r.content) == d
        head = client.head(f"/v2/demo/img/manifests/{ref}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(r.content))


def test_docker_schema2_keeps_exact_bytes_and_media_type(client: httpx.Client) -> None:
    config = b'{"os":"linux"}'
    push_blob(client, "demo/d2", config)
    body = (
        b'{\n   "schemaVersion": 2,\n   "mediaType": "' + DOCKER_MANIFEST.encode() + b'",\n'
        b'   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", '
        b'"size": '
        + str(len(config)).encode()
        + b', "digest": "'
        + digest_of(config).encode()
        + b'"},\n   "layers": []\n}'
    )
    r = client.put(
        "/v2/demo/d2/manifests/latest", content=body, headers={"Content-Type": DOCKER_MANIFEST}
    )
    assert r.status_code == 201
    got = client.get("/v2/demo/d2/manifests/latest")
    assert got.content == body
    assert got.headers["Content-Type"] == DOCKER_MANIFEST


def test_push_by_digest_with_tags_answers_oci_tag(client: httpx.Client) -> None:
    config = b"{}"
    push_blob(client, "demo/t", config)
    body, _ = manifest_for(config, [])
    d = digest_of(body)
    r = client.put(
        f"/v2/demo/t/manifests/{d}",
        params=[("tag", "1.2.3"), ("tag", "latest")],
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    assert r.headers.get_list("OCI-Tag") == ["1.2.3", "latest"]
    assert client.get("/v2/demo/t/tags/list").json()["tags"] == ["1.2.3", "latest"]


def test_manifest_bad_inputs(client: httpx.Client, registry) -> None:  # type: ignore[no-untyped-def]
    config = b"{}"
    push_blob(client, "demo/bad", config)
    body, _obj = manifest_for(config, [b"never pushed layer"])
    r = client.put("/v2/demo/bad/manifests/x", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert digest_of(b"never pushed layer") in r.json()["errors"][0]["detail"]
    good, _ = manifest_for(config, [])
    wrong = digest_of(b"not this")
    r = client.put(f"/v2/demo/bad/manifests/{wrong}", content=good)
    assert error_codes(r) == ["DIGEST_INVALID"]
    r = client.put("/v2/demo/bad/manifests/x", content=b"{not json")
    assert error_codes(r) == ["MANIFEST_INVALID"]
    r = client.put("/v2/demo/bad/manifests/x", content=b'{"schemaVersion": 1}')
    assert error_codes(r) == ["MANIFEST_INVALID"]
    r = client.put("/v2/demo/bad/manifests/bad:tag!", content=good)
    assert r.status_code == 400
    huge = json.dumps({**json.loads(good), "annotations": {"a": "x" * (5 << 20)}}).encode()
    r = client.put("/v2/demo/bad/manifests/huge", content=huge)
    assert r.status_code == 413
    # None of the refused pushes left a tag behind.
    assert client.get("/v2/demo/bad/tags/list").json()["tags"] == []


def test_unknown_repository_and_manifest(client: httpx.Client) -> None:
    r = client.get("/v2/demo/nothing/manifests/latest")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]
    push_image(client, "demo/some", "v1")
    r = client.get("/v2/demo/some/manifests/v2")
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.get("/v2/demo/nothing/tags/list").status_code == 404


def test_index_needs_its_children(client: httpx.Client) -> None:
    child = push_image(client, "demo/multi", "amd64")
    size = len(client.get(f"/v2/demo/multi/manifests/{child}").content)
    missing = digest_of(b"no such manifest")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": child,
                "size": size,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
    r = client.put(
        "/v2/demo/multi/manifests/all",
        content=json.dumps(index).encode(),
        headers={"Content-Type": OCI_INDEX},
    )
    assert r.status_code == 201
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": missing, "size": 1})  # type: ignore[attr-defined]
    r = client.put(
        "/v2/demo/multi/manifests/broken",
        content=json.dumps(index).encode(),
        headers={"Content-Type": OCI_INDEX},
    )
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.get("/v2/demo/multi/manifests/all").headers["Content-Type"] == OCI_INDEX


def test_referrers_with_subject_and_artifact_type_filter(client: httpx.Client) -> None:
    subject = push_image(client, "demo/ref", "v1")
    subject_size = len(client.get(f"/v2/demo/ref/manifests/{subject}").content)
    empty = b"{}"
    push_blob(client, "demo/ref", empty)
    digests = {}
    for kind in ("sbom", "sig"):
        obj = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": f"application/vnd.example.{kind}",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": digest_of(empty),
                "size": 2,
            },
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
            "annotations": {"kind": kind},
        }
        body = json.dumps(obj).encode()
        r = client.put(
            f"/v2/demo/ref/manifests/{digest_of(body)}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201
        assert r.headers["OCI-Subject"] == subject
        digests[kind] = digest_of(body)
    r = client.get(f"/v2/demo/ref/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(OCI_INDEX)
    found = {m["digest"]: m for m in r.json()["manifests"]}
    assert set(found) == set(digests.values())
    assert found[digests["sbom"]]["artifactType"] == "application/vnd.example.sbom"
    assert found[digests["sbom"]]["annotations"] == {"kind": "sbom"}
    r = client.get(
        f"/v2/demo/ref/referrers/{subject}", params={"artifactType": "application/vnd.example.sig"}
    )
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [digests["sig"]]
    none = client.get(f"/v2/demo/ref/referrers/{digest_of(b'nothing refers')}")
    assert none.status_code == 200
    assert none.json()["manifests"] == []
    assert client.get("/v2/demo/ref/referrers/sha256:bad").status_code == 400
    assert client.delete(f"/v2/demo/ref/manifests/{digests['sig']}").status_code == 202
    r = client.get(f"/v2/demo/ref/referrers/{subject}")
    assert [m["digest"] for m in r.json()["manifests"]] == [digests["sbom"]]


def test_tags_list_pagination(client: httpx.Client) -> None:
    config = b"{}"
    push_blob(client, "demo/tags", config)
    body, _ = manifest_for(config, [])
    tags = ["a", "b", "c", "d", "e"]
    for t in tags:
        client.put(
            f"/v2/demo/tags/manifests/{t}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
    r = client.get("/v2/demo/tags/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == '</v2/demo/tags/tags/list?n=2&last=b>; rel="next"'
    r = client.get(r.headers["Link"][1:].split(">")[0])
    assert r.json()["tags"] == ["c", "d"]
    r = client.get("/v2/demo/tags/tags/list", params={"n": 2, "last": "d"})
    assert r.json()["tags"] == ["e"]
    assert "Link" not in r.headers
    r = client.get("/v2/demo/tags/tags/list", params={"n": 0})
    assert r.json()["tags"] == []
    assert "Link" not in r.headers
    r = client.get("/v2/demo/tags/tags/list", params={"n": -1})
    assert error_codes(r) == ["PAGINATION_NUMBER_INVALID"]


def test_catalog_pagination(client: httpx.Client) -> None:
    for name in ("c/one", "a/two", "b/three"):
        push_image(client, name, "v1")
    assert client.get("/v2/_catalog").json()["repositories"] == ["a/two", "b/three", "c/one"]
    r = client.get("/v2/_catalog", params={"n": 1})
    assert r.json()["repositories"] == ["a/two"]
    assert 'rel="next"' in r.headers["Link"]
    r = client.get("/v2/_catalog", params={"n": 5, "last": "a/two"})
    assert r.json()["repositories"] == ["b/three", "c/one"]


def test_delete_tag_and_manifest(client: httpx.Client) -> None:
    d = push_image(client, "demo/rm", "v1")
    client.put(
        "/v2/demo/rm/manifests/v2",
        content=client.get(f"/v2/demo/rm/manifests/{d}").content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert client.delete("/v2/demo/rm/manifests/v1").status_code == 202
    assert client.get("/v2/demo/rm/manifests/v1").status_code == 404
    assert client.get("/v2/demo/rm/manifests/v2").status_code == 200
    assert client.delete(f"/v2/demo/rm/manifests/{d}").status_code == 202
    assert client.get("/v2/demo/rm/manifests/v2").status_code == 404
    assert client.get(f"/v2/demo/rm/manifests/{d}").status_code == 404
    assert client.get("/v2/demo/rm/tags/list").json()["tags"] == []
    assert client.delete(f"/v2/demo/rm/manifests/{d}").status_code == 404


def test_read_only_and_delete_disabled(start_registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    writable = start_registry()
    with httpx.Client(base_url=writable.url) as c:
        d = push_image(c, "demo/ro", "v1")
    ro = start_registry(readonly=True, delete_enabled=False)
    with httpx.Client(base_url=ro.url) as c:
        assert c.get("/v2/demo/ro/manifests/v1").status_code == 200
        r = c.post("/v2/demo/ro/blobs/uploads/")
        assert r.status_code == 405
        assert error_codes(r) == ["UNSUPPORTED"]
        assert c.delete(f"/v2/demo/ro/manifests/{d}").status_code == 405
    nodelete = start_registry(delete_enabled=False)
    with httpx.Client(base_url=nodelete.url) as c:
        assert c.delete(f"/v2/demo/ro/manifests/{d}").status_code == 405
        assert c.get(f"/v2/demo/ro/manifests/{d}").status_code == 200


def test_two_servers_share_one_root(start_registry) -> None:  # type: ignore[no-untyped-def]
    one, two = start_registry(), start_registry()
    with httpx.Client(base_url=one.url) as a, httpx.Client(base_url=two.url) as b:
        location = a.post("/v2/demo/shared/blobs/uploads/").headers["Location"]
        # The upload started on one server continues on the other.
        path = location.split(one.url, 1)[1]
        r = b.patch(path, content=b"part1", headers={"Content-Range": "0-4"})
        assert r.status_code == 202
        r = a.put(
            path,
            params={"digest": digest_of(b"part1part2")},
            content=b"part2",
            headers={"Content-Range": "5-9"},
        )
        assert r.status_code == 201
        d = push_image(a, "demo/shared", "v1")
        assert b.get("/v2/demo/shared/manifests/v1").headers["Docker-Content-Digest"] == d
        assert b.get(f"/v2/demo/shared/blobs/{digest_of(b'part1part2')}").content == b"part1part2"
