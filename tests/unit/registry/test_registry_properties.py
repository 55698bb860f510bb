"""Properties of the input checks that keep names and ranges from escaping the store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.registry.blobs import byte_range
from wharf.registry.errcodes import RegistryError
from wharf.registry.names import validate_name

_ALPHABET = "abcz09./_-%\\:~ A"


@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_an_accepted_name_has_only_plain_components(name: str) -> None:
    try:
        validate_name(name)
    except RegistryError:
        return
    parts = name.split("/")
    assert all(parts)
    assert not {".", ".."} & set(parts)
    assert all(p[0].isalnum() and p[-1].isalnum() for p in parts)


@given(st.integers(0, 10_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_a_served_range_lies_inside_the_blob(size: int, a: int, b: int) -> None:
    for header in (f"bytes={a}-{b}", f"bytes={a}-", f"bytes=-{b}"):
        try:
            first, last = byte_range(header, size)
        except RegistryError as exc:
            assert exc.code.status == 416
            continue
        if size:
            assert 0 <= first <= last < size


def test_no_range_means_the_whole_blob() -> None:
    assert byte_range(None, 10) == (0, 9)
    with pytest.raises(RegistryError):
        byte_range("bytes=", 10)
