"""linux.resources validation: good specs become typed values, bad ones name the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.errors import InvalidArgument, Unimplemented
from wharf.runtime.cgroups import (
    DEFAULT_DEVICE_RULES,
    DeviceRule,
    DeviceThrottle,
    Resources,
)
from wharf.runtime.cgroups.resources import parse_cpu_list

MiB = 1024 * 1024


def test_full_spec_round_trip() -> None:
    r = Resources.from_spec(
        {
            "memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 128 * MiB},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 100},
            "blockIO": {
                "weight": 500,
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            },
            "devices": [{"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rw"}],
        }
    )
    assert r.memory.limit == 64 * MiB
    assert r.memory.reservation == 32 * MiB
    assert r.memory.swap == 128 * MiB
    assert (r.cpu.shares, r.cpu.quota, r.cpu.period, r.cpu.cpus) == (512, 50000, 100000, "0")
    assert r.pids_limit == 100
    assert r.blkio.weight == 500
    assert r.blkio.write_bps == (DeviceThrottle(8, 0, 1048576),)
    assert r.devices == (DeviceRule(True, "c", 10, 200, "rw"),)


def test_empty_and_none_mean_no_limits() -> None:
    assert Resources.from_spec(None) == Resources()
    assert Resources.from_spec({}) == Resources()
    # Docker sends 0 for "not set".
    r = Resources.from_spec({"memory": {"limit": 0, "swap": 0}, "cpu": {"shares": 0}})
    assert r == Resources()


def test_unlimited_values() -> None:
    r = Resources.from_spec(
        {"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}
    )
    assert (r.memory.limit, r.memory.swap, r.pids_limit, r.cpu.quota) == (-1, -1, -1, -1)


def test_device_rules_order_deny_spec_defaults() -> None:
    r = Resources.from_spec({"devices": [{"allow": True, "access": "rwm"}]})
    rules = r.device_rules()
    assert rules[0] == DeviceRule(allow=False)
    assert rules[0].line() == "a"
    assert rules[1].line() == "a"
    assert rules[1].allow
    assert rules[2:] == DEFAULT_DEVICE_RULES
    assert DeviceRule(True, "c", 136, None, "rwm").line() == "c 136:* rwm"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"memory": {"limit": 1000}}, "linux.resources.memory.limit: must be >= 6 MiB"),
        ({"memory": {"limit": -5}}, "linux.resources.memory.limit"),
        ({"memory": {"limit": "1g"}}, "linux.resources.memory.limit: must be an integer"),
        ({"memory": {"limit": True}}, "linux.resources.memory.limit: must be an integer"),
        ({"memory": {"swap": 64 * MiB}}, "linux.resources.memory.swap: needs memory.limit"),
        (
            {"memory": {"limit": 64 * MiB, "swap": 32 * MiB}},
            "linux.resources.memory.swap: memory+swap must be >=",
        ),
        (
            {"memory": {"limit": 64 * MiB, "reservation": 128 * MiB}},
            "linux.resources.memory.reservation",
        ),
        ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
        ({"memory": {"limitt": 1}}, "linux.resources.memory: unknown field 'limitt'"),
        ({"cpu": {"shares": 1}}, "linux.resources.cpu.shares"),
        ({"cpu": {"shares": 300000}}, "linux.resources.cpu.shares"),
        ({"cpu": {"quota": 10}}, "linux.resources.cpu.quota"),
        ({"cpu": {"period": 999}}, "linux.resources.cpu.period"),
        ({"cpu": {"period": 2_000_000}}, "linux.resources.cpu.period"),
        ({"cpu": {"cpus": "0-"}}, "linux.resources.cpu.cpus"),
        ({"cpu": {"cpus": "3-1"}}, "linux.resources.cpu.cpus: range '3-1' runs backwards"),
        ({"cpu": {"mems": "a"}}, "linux.resources.cpu.mems"),
        ({"cpu": {"cpus": 3}}, "linux.resources.cpu.cpus: must be a string"),
        ({"pids": {"limit": -2}}, "linux.resources.pids.limit"),
        ({"pids": 5}, "linux.resources.pids: must be an object"),
        ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight"),
        ({"blockIO": {"weight": 2000}}, "linux.resources.blockIO.weight"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}},
            "linux.resources.blockIO.throttleReadBpsDevice[0]: 'major' and 'minor'",
        ),
        (
            {"blockIO": {"throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": -1}]}},
            "linux.resources.blockIO.throttleReadIOPSDevice[0].rate",
        ),
        (
            {"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}},
            "linux.resources.blockIO.weightDevice[0].weight",
        ),
        ({"devices": [{"type": "c"}]}, "linux.resources.devices[0].allow"),
        ({"devices": [{"allow": True, "type": "x"}]}, "linux.resources.devices[0].type"),
        (
            {"devices": [{"allow": True}, {"allow": True, "access": "rwx"}]},
            "linux.resources.devices[1].access",
        ),
        ({"devices": [{"allow": True, "access": "rr"}]}, "linux.resources.devices[0].access"),
        ({"devices": {"allow": True}}, "linux.resources.devices: must be an array"),
        ({"memroy": {}}, "linux.resources: unknown field 'memroy'"),
        ([], "linux.resources: must be an object"),
    ],
)
def test_bad_input_names_the_field(spec: Any, field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        Resources.from_spec(spec)
    assert field in str(exc.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]},
        {"rdma": {"mlx": {}}},
        {"unified": {"memory.high": "1"}},
        {"cpu": {"burst": 1000}},
        {"blockIO": {"leafWeight": 100}},
    ],
)
def test_unsupported_fields_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(Unimplemented):
        Resources.from_spec(spec)


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0-3,6", "f") == {0, 1, 2, 3, 6}
    assert parse_cpu_list(" 1 ", "f") == {1}
    assert parse_cpu_list("", "f") == frozenset()
    with pytest.raises(InvalidArgument, match="f: '1,,2'"):
        parse_cpu_list("1,,2", "f")


_KEYS = st.sampled_from(
    [
        "memory", "cpu", "pids", "blockIO", "devices", "limit", "swap", "reservation",
        "shares", "quota", "period", "cpus", "mems", "weight", "major", "minor", "rate",
        "allow", "type", "access", "throttleReadBpsDevice", "weightDevice", "swappiness",
    ]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_any_json_is_accepted_or_refused_with_a_kind(spec: Any) -> None:
    try:
        r = Resources.from_spec(spec)
    except (InvalidArgument, Unimplemented) as exc:
        assert str(exc).startswith("linux.resources")
    else:
        assert isinstance(r, Resources)
        r.device_rules()
