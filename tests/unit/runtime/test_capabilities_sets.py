"""Capability names, spec validation and the masks prepared for the child."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.errors import InvalidArgument
from wharf.runtime.capabilities import (
    CAPABILITIES,
    DOCKER_DEFAULT,
    CapabilitySets,
    cap_name,
    cap_number,
    mask,
    names_from_mask,
)

RUNC_SPEC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def test_names_and_numbers() -> None:
    assert cap_number("CAP_CHOWN") == 0
    assert cap_number("CAP_SYS_ADMIN") == 21
    assert cap_number("CAP_CHECKPOINT_RESTORE") == 40
    assert cap_name(25) == "CAP_SYS_TIME"
    assert len(CAPABILITIES) == 41
    with pytest.raises(InvalidArgument, match="CAP_FLY"):
        cap_number("CAP_FLY")
    with pytest.raises(InvalidArgument):
        cap_name(64)


def test_runc_default_mask_matches_proc_status_format() -> None:
    # What runc's `runc spec` default shows as CapEff in /proc/self/status.
    assert mask(RUNC_SPEC_CAPS) == 0x20000420
    assert names_from_mask(0x20000420) == frozenset(RUNC_SPEC_CAPS)


def test_docker_default() -> None:
    assert len(DOCKER_DEFAULT) == 14
    assert mask(DOCKER_DEFAULT) == 0xA80425FB  # docker run busybox: CapEff 00000000a80425fb
    sets = CapabilitySets.docker_default(add=["net_admin"], drop=["CAP_MKNOD"])
    assert "CAP_NET_ADMIN" in sets.bounding
    assert "CAP_MKNOD" not in sets.effective
    assert sets.inheritable == frozenset()
    assert sets.ambient == frozenset()
    with pytest.raises(InvalidArgument, match=r"cap_add\[1\]: unknown capability 'FLY'"):
        CapabilitySets.docker_default(add=["NET_ADMIN", "FLY"])
    everything = frozenset(CAPABILITIES)
    assert CapabilitySets.docker_default(privileged=True).bounding == everything
    assert CapabilitySets.docker_default(add=["all"], drop=["SYS_ADMIN"]).permitted == (
        everything - {"CAP_SYS_ADMIN"}
    )
    assert CapabilitySets.docker_default(add=["CHOWN"], drop=["ALL"]).effective == {"CAP_CHOWN"}


def test_from_spec_and_prepare() -> None:
    spec = {s: RUNC_SPEC_CAPS for s in ("bounding", "effective", "permitted", "ambient")}
    sets = CapabilitySets.from_spec(spec)
    p = sets.prepare(last_cap=40)
    assert p.effective == p.permitted == 0x20000420
    assert p.inheritable == 0
    # Ambient needs the capability in inheritable too: nothing can be raised.
    assert p.ambient == ()
    assert set(p.drop) == set(range(41)) - {5, 10, 29}
    with_inh = CapabilitySets.from_spec({**spec, "inheritable": RUNC_SPEC_CAPS})
    assert with_inh.prepare(last_cap=40).ambient == (5, 10, 29)


def test_caps_beyond_the_kernel_are_ignored() -> None:
    sets = CapabilitySets.from_spec({"bounding": ["CAP_BPF", "CAP_KILL"], "permitted": ["CAP_BPF"]})
    p = sets.prepare(last_cap=37)
    assert p.permitted == 0
    assert 39 not in p.drop
    assert max(p.drop) == 37


def test_none_means_no_capabilities() -> None:
    p = CapabilitySets.from_spec(None).prepare(last_cap=40)
    assert (p.effective, p.permitted, p.inheritable) == (0, 0, 0)
    assert len(p.drop) == 41


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"bounding": ["CAP_KILL", "KILL"]}, "process.capabilities.bounding[1]"),
        ({"effective": ["cap_kill"]}, "process.capabilities.effective[0]"),
        ({"ambient": "CAP_KILL"}, "process.capabilities.ambient: must be an array"),
        ({"bounding": [5]}, "process.capabilities.bounding[0]"),
        ({"boundin": []}, "process.capabilities: unknown set 'boundin'"),
        (["CAP_KILL"], "process.capabilities: must be an object"),
    ],
)
def test_bad_input_names_the_field(spec: Any, field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        CapabilitySets.from_spec(spec)
    assert field in str(exc.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["CAP_KILL", "KILL"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["bounding", "ambient", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_any_json_is_accepted_or_refused_with_a_kind(spec: Any) -> None:
    try:
        sets = CapabilitySets.from_spec(spec)
    except InvalidArgument as exc:
        assert str(exc).startswith("process.capabilities")
    else:
        sets.prepare(last_cap=40)
