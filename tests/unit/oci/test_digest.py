from __future__ import annotations

import hashlib

import pytest

from wharf.errors import DataLoss, InvalidArgument
from wharf.oci import Descriptor, Digest, Platform

HELLO = hashlib.sha256(b"hello").hexdigest()


def test_parse_round_trip() -> None:
    d = Digest.parse(f"sha256:{HELLO}")
    assert str(d) == f"sha256:{HELLO}"
    assert d == Digest.from_bytes(b"hello")
    assert d.short() == HELLO[:12]


def test_sha512_accepted() -> None:
    text = "sha512:" + hashlib.sha512(b"x").hexdigest()
    assert str(Digest.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        f"sha256:{HELLO[:-1]}",
        f"sha256:{HELLO.upper()}",
        f"md5:{HELLO}",
        f"sha256:{HELLO}/../x",
        "sha256:" + "g" * 64,
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid digest"):
        Digest.parse(text)


def test_verifier_detects_mismatch() -> None:
    v = Digest.from_bytes(b"hello").verifier()
    v.update(b"hel")
    v.update(b"lo")
    v.verify()
    assert v.size == 5
    bad = Digest.from_bytes(b"other").verifier()
    bad.update(b"hello")
    with pytest.raises(DataLoss, match="digest mismatch"):
        bad.verify()


def test_descriptor_json_round_trip() -> None:
    obj = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{HELLO}",
        "size": 5,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    desc = Descriptor.from_json(obj)
    assert desc.platform == Platform()
    assert desc.to_json() == obj


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"mediaType": "x", "digest": f"sha256:{HELLO}", "size": -1}, "size"),
        ({"mediaType": "x", "digest": f"sha256:{HELLO}", "size": True}, "size"),
        ({"mediaType": 3, "digest": f"sha256:{HELLO}", "size": 1}, "mediaType"),
        ({"mediaType": "x", "digest": f"sha256:{HELLO}", "size": 1, "urls": "u"}, "urls"),
    ],
)
def test_descriptor_rejects(obj: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        Descriptor.from_json(obj)
