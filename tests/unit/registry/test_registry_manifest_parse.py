"""What the server reads from a pushed manifest."""

from __future__ import annotations

import json

import pytest

from wharf.oci import mediatypes
from wharf.registry.errcodes import RegistryError
from wharf.registry.manifests import media_type_of, parse_manifest

D = "sha256:" + "a" * 64


def desc(media_type: str = "x/y") -> dict[str, object]:
    return {"mediaType": media_type, "digest": D, "size": 3}


def test_image_manifest_lists_config_and_layers() -> None:
    body = json.dumps(
        {"schemaVersion": 2, "config": desc("c/t"), "layers": [desc(), desc()], "subject": desc()}
    ).encode()
    parsed = parse_manifest(body, mediatypes.OCI_MANIFEST)
    assert parsed.media_type == mediatypes.OCI_MANIFEST
    assert len(parsed.blobs) == 3
    assert parsed.artifact_type == "c/t"
    assert parsed.subject is not None


def test_index_lists_children_and_media_type_is_guessed() -> None:
    body = json.dumps({"schemaVersion": 2, "manifests": [desc()]}).encode()
    parsed = parse_manifest(body, "")
    assert parsed.media_type == mediatypes.OCI_INDEX
    assert len(parsed.children) == 1
    assert media_type_of(body) == mediatypes.OCI_INDEX


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"[]", "", "JSON object"),
        (b"\xff", "", "not valid JSON"),
        (b'{"schemaVersion": 1}', "", "schema1"),
        (b'{"schemaVersion": 3}', "", "schemaVersion must be 2"),
        (b'{"schemaVersion": 2}', "", "no 'config'"),
        (
            json.dumps({"schemaVersion": 2, "mediaType": mediatypes.DOCKER_MANIFEST}).encode(),
            mediatypes.OCI_MANIFEST,
            "does not match",
        ),
        (
            json.dumps({"schemaVersion": 2, "config": {"digest": "nope", "size": 1}}).encode(),
            "",
            "config",
        ),
        (json.dumps({"schemaVersion": 2, "config": desc(), "layers": {}}).encode(), "", "list"),
    ],
)
def test_bad_manifests_are_manifest_invalid(body: bytes, content_type: str, words: str) -> None:
    with pytest.raises(RegistryError, match=words) as info:
        parse_manifest(body, content_type)
    assert info.value.code.name == "MANIFEST_INVALID"
