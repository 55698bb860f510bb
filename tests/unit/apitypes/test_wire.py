"""Wire helpers: query booleans, filters, stdcopy framing, create-body validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.apitypes import ContainerCreate, parse_bool, parse_filters
from wharf.apitypes.stream import Demuxer, frame
from wharf.errors import InvalidArgument


@pytest.mark.parametrize("value", ["", "0", "no", "false", "FALSE", "None", None])
def test_false_values_like_moby(value) -> None:
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "x"])
def test_true_values_like_moby(value) -> None:
    assert parse_bool(value) is True


def test_filters_both_forms() -> None:
    assert parse_filters('{"status":{"running":true,"exited":false}}') == {"status": ["running"]}
    assert parse_filters('{"label":["a=b"]}') == {"label": ["a=b"]}
    assert parse_filters("") == {}
    for bad in ("{", "[1]", '{"a": 3}'):
        with pytest.raises(InvalidArgument, match="filters"):
            parse_filters(bad)


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=20),
    st.integers(min_value=1, max_value=50),
)
def test_demuxer_reassembles_any_split(frames, step) -> None:
    data = b"".join(frame(s, p) for s, p in frames)
    demux = Demuxer()
    got = []
    for i in range(0, len(data), step):
        got.extend(demux.feed(data[i : i + step]))
    assert got == frames
    assert demux.pending == 0


def test_create_round_trips_and_defaults() -> None:
    spec = ContainerCreate.from_json(
        {
            "Image": "busybox",
            "Cmd": "echo hi",
            "Env": ["A=1"],
            "HostConfig": {"NanoCpus": 500000000, "PidsLimit": 10},
        }
    )
    assert spec.config.cmd == ("echo hi",)
    again = ContainerCreate.from_json(spec.to_json())
    assert again == spec
    assert spec.host_config.network_mode == "default"


@pytest.mark.parametrize(
    "body",
    [
        {"Image": "b", "Env": ["=x"]},
        {"Image": "b", "HostConfig": {"NanoCpus": 1, "CpuQuota": 5}},
        {"Image": "b", "HostConfig": {"NetworkMode": "container:"}},
        {"Image": "b", "HostConfig": {"ConsoleSize": [1]}},
        {"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}},
        {"Image": "b", "HostConfig": {"Memory": True}},
    ],
)
def test_create_rejects(body) -> None:
    with pytest.raises(InvalidArgument):
        ContainerCreate.from_json(body)
