from __future__ import annotations

import json

import pytest

from wharf.errors import InvalidArgument, NotFound
from wharf.oci import ImageConfig, Index, Manifest, Platform, mediatypes

DIGEST = "sha256:" + "b" * 64
CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-01T00:00:00Z",
    "config": {
        "User": "nobody",
        "Env": ["A=1"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Labels": {"k": "v"},
        "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5},
        "Hostname": "kept-as-extra",
    },
    "rootfs": {"type": "layers", "diff_ids": [DIGEST]},
    "history": [{"created_by": "x"}, {"created_by": "CMD", "empty_layer": True}],
    "moby.buildkit.cache": "kept",
}


def test_config_round_trip_keeps_every_field() -> None:
    config = ImageConfig.from_json(CONFIG)
    assert config.config.user == "nobody"
    assert config.config.exposed_ports == ("80/tcp",)
    assert config.config.healthcheck is not None
    assert config.config.healthcheck.interval == 5
    assert config.history[1].empty_layer
    assert ImageConfig.from_json(config.to_json()) == config
    assert config.to_json()["config"]["Hostname"] == "kept-as-extra"
    assert config.to_json()["moby.buildkit.cache"] == "kept"


@pytest.mark.parametrize(
    ("patch", "why"),
    [
        ({"rootfs": {"type": "other"}}, "rootfs"),
        ({"os": ""}, "'os'"),
        ({"config": {"Env": "A=1"}}, "'Env'"),
        ({"config": {"Labels": {"a": 1}}}, "'Labels'"),
        ({"history": {}}, "'history'"),
        ({"rootfs": {"type": "layers", "diff_ids": ["nope"]}}, "invalid digest"),
    ],
)
def test_config_errors_name_the_field(patch: dict[str, object], why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        ImageConfig.from_json({**CONFIG, **patch})


def test_manifest_reads_docker_and_oci() -> None:
    desc = {"mediaType": mediatypes.DOCKER_LAYER_GZIP, "digest": DIGEST, "size": 3}
    for media in (mediatypes.DOCKER_MANIFEST, mediatypes.OCI_MANIFEST):
        m = Manifest.from_bytes(
            json.dumps(
                {"schemaVersion": 2, "mediaType": media, "config": desc, "layers": [desc]}
            ).encode()
        )
        assert m.media_type == media
        assert Manifest.from_json(m.to_json()) == m
    with pytest.raises(InvalidArgument, match="schemaVersion"):
        Manifest.from_json({"schemaVersion": 1})
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        Manifest.from_bytes(b"{")
    with pytest.raises(InvalidArgument, match="layer media type"):
        Manifest.from_json(
            {"schemaVersion": 2, "config": desc, "layers": [{**desc, "mediaType": "x"}]}
        )


def test_index_selects_linux_amd64() -> None:
    def entry(arch: str) -> dict[str, object]:
        return {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": "sha256:" + arch[0] * 64 if arch[0] in "abcdef" else DIGEST,
            "size": 1,
            "platform": {"os": "linux", "architecture": arch},
        }

    index = Index.from_json(
        {"schemaVersion": 2, "manifests": [entry("arm64"), entry("amd64"), entry("s390x")]}
    )
    assert index.select().platform == Platform("linux", "amd64")
    with pytest.raises(NotFound, match="linux/riscv64"):
        index.select(Platform("linux", "riscv64"))
