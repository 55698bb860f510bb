from __future__ import annotations

from wharf.mount import MS_BIND, MS_NODEV, MS_PRIVATE, MS_RDONLY, MS_REC, Mount, parse_options


def test_parse_options_splits_flags_propagation_and_data() -> None:
    flags, propagation, data = parse_options(["ro", "nodev", "rprivate", "size=64m", "mode=755"])
    assert flags == MS_RDONLY | MS_NODEV
    assert propagation == MS_PRIVATE | MS_REC
    assert data == "size=64m,mode=755"


def test_rw_clears_ro() -> None:
    assert parse_options(["ro", "rw"])[0] == 0


def test_rbind_type_sets_bind_and_rec() -> None:
    flags, _, _ = Mount("rbind", "/src", ("ro",)).flags_and_data()
    assert flags == MS_BIND | MS_REC | MS_RDONLY
