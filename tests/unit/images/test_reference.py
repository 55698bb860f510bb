from __future__ import annotations

import pytest

from wharf.errors import InvalidArgument
from wharf.images import parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
        ("localhost/a", "localhost/a:latest", "localhost/a:latest"),
        ("quay.io/x/y", "quay.io/x/y:latest", "quay.io/x/y:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"a/b:t@{DIGEST}", f"docker.io/a/b:t@{DIGEST}", f"a/b:t@{DIGEST}"),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse_reference(full) == ref


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("BusyBox", "lowercase"),
        ("busybox:", "tag"),
        ("busybox:bad tag", "tag"),
        ("a//b", "component"),
        ("busybox@sha256:abc", "sha256"),
        ("-leading", "component"),
        ("x" * 300, "longer"),
        ("busybox@md5:" + "a" * 32, "algorithm"),
    ],
)
def test_invalid_references_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        parse_reference(text)
