"""What each version writes for a Resources value, path rules, and stats parsing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wharf.errors import InvalidArgument, NotFound, Unimplemented
from wharf.runtime.cgroups import BlkioEntry, Resources
from wharf.runtime.cgroups.base import check_path, old_value, write_all
from wharf.runtime.cgroups.stats import (
    limit_or_none,
    parse_flat_keyed,
    parse_v1_blkio,
    parse_v2_io,
)
from wharf.runtime.cgroups.v1 import discover_hierarchies, plan_writes
from wharf.runtime.cgroups.v2 import find_unified_mount, plan_v2_writes, shares_to_weight

MiB = 1024 * 1024


@pytest.fixture
def rtcg_dir() -> Iterator[Path]:
    """A private temp dir under /tmp/rtcg-* (pytest's shared tmp_path base is avoided)."""
    d = Path(tempfile.mkdtemp(prefix="rtcg-"))
    try:
        yield d
    finally:
        shutil.rmtree(d)


SPEC = {
    "memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 32 * MiB},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
    "pids": {"limit": -1},
    "blockIO": {
        "weight": 300,
        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1000}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 10}],
    },
}


def test_v1_plan() -> None:
    writes = [(w.controller, w.file, w.value) for w in plan_writes(Resources.from_spec(SPEC))]
    assert writes[:9] == [
        ("memory", "memory.limit_in_bytes", str(64 * MiB)),
        ("memory", "memory.memsw.limit_in_bytes", str(96 * MiB)),
        ("memory", "memory.soft_limit_in_bytes", str(32 * MiB)),
        ("cpu", "cpu.shares", "1024"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("pids", "pids.max", "max"),
        ("blkio", "blkio.bfq.weight", "300"),
    ]
    assert ("blkio", "blkio.throttle.read_bps_device", "254:0 1000") in writes
    assert ("blkio", "blkio.throttle.write_iops_device", "254:0 10") in writes
    devices = [(f, v) for c, f, v in writes if c == "devices"]
    assert devices[0] == ("devices.deny", "a")
    assert ("devices.allow", "c 1:3 rwm") in devices


def test_v1_plan_names_spec_fields() -> None:
    r = Resources.from_spec({"devices": [{"allow": True, "type": "b", "major": 7, "minor": 0}]})
    fields = {w.value: w.field for w in plan_writes(r)}
    assert fields["b 7:0 rwm"] == "linux.resources.devices[0]"
    assert fields["c 1:3 rwm"] == "linux.resources.devices"
    assert plan_writes(r, bfq=False)[0].file == "devices.deny"


def test_v2_plan() -> None:
    writes = [(w.file, w.value) for w in plan_v2_writes(Resources.from_spec(SPEC))]
    assert ("memory.max", str(64 * MiB)) in writes
    assert ("memory.swap.max", str(32 * MiB)) in writes  # v2 counts swap alone
    assert ("memory.low", str(32 * MiB)) in writes
    assert ("cpu.weight", "39") in writes
    assert ("cpu.max", "50000 100000") in writes
    assert ("pids.max", "max") in writes
    assert ("io.bfq.weight", "300") in writes
    assert ("io.max", "254:0 rbps=1000") in writes
    assert ("io.max", "254:0 wiops=10") in writes
    only_period = plan_v2_writes(Resources.from_spec({"cpu": {"period": 50000}}))
    assert [(w.file, w.value) for w in only_period] == [("cpu.max", "max 50000")]


def test_shares_to_weight_bounds() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(1024) == 39


@pytest.mark.parametrize("path", ["", "/", "//", "/a/../b", "./x", "a/\0b"])
def test_bad_cgroups_path(path: str) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.cgroupsPath"):
        check_path(path)


def test_good_cgroups_path() -> None:
    assert check_path("/wharf//abc/") == "/wharf/abc"
    assert check_path("wharf/abc") == "wharf/abc"


MOUNTINFO = """\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
"""


def test_discover_hierarchies(rtcg_dir: Path) -> None:
    f = rtcg_dir / "mountinfo"
    f.write_text(MOUNTINFO)
    assert discover_hierarchies(str(f)) == {
        "name=systemd": "/sys/fs/cgroup/systemd",
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory",
    }
    assert find_unified_mount(str(f)) == "/sys/fs/cgroup/unified"


def test_stats_parsers() -> None:
    assert parse_flat_keyed("cache 10\nrss 20\nbad line x\n") == {"cache": 10, "rss": 20}
    rows = parse_v1_blkio("254:0 Read 4096\n254:0 Write 8192\n254:0 Total 12288\nTotal 12288\n")
    assert rows == (
        BlkioEntry(254, 0, "Read", 4096),
        BlkioEntry(254, 0, "Write", 8192),
        BlkioEntry(254, 0, "Total", 12288),
    )
    nbytes, nops = parse_v2_io("8:0 rbytes=100 wbytes=50 rios=3 wios=2 dbytes=0 dios=0\n")
    assert BlkioEntry(8, 0, "Write", 50) in nbytes
    assert BlkioEntry(8, 0, "Total", 5) in nops
    assert limit_or_none("max") is None
    assert limit_or_none("9223372036854771712") is None
    assert limit_or_none("67108864") == 67108864


@pytest.mark.parametrize(
    ("name", "content", "new", "old"),
    [
        ("memory.limit_in_bytes", "67108864\n", "134217728", "67108864"),
        ("pids.max", "max\n", "50", "max"),
        ("cpu.max", "max 100000\n", "50000 100000", "max 100000"),
        ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", "1", "0"),
        ("blkio.throttle.read_bps_device", "254:0 1000\n8:0 5\n", "8:0 7", "8:0 5"),
        ("blkio.throttle.read_bps_device", "", "8:0 7", "8:0 0"),
        ("io.max", "8:0 rbps=5 wbps=max riops=max wiops=max\n", "8:0 rbps=9", None),
        ("io.max", "", "8:0 wiops=9", "8:0 wiops=max"),
        ("io.bfq.weight", "default 100\n", "300", "default 100"),
        ("io.bfq.weight", "default 100\n", "8:0 300", "8:0 default"),
    ],
)
def test_old_value_undoes_a_write(
    rtcg_dir: Path, name: str, content: str, new: str, old: str | None
) -> None:
    f = rtcg_dir / name
    f.write_text(content)
    assert old_value(str(f), new) == (old or content.strip())


def test_write_all_restores_on_failure(rtcg_dir: Path) -> None:
    a, b = rtcg_dir / "pids.max", rtcg_dir / "memory.max"
    a.write_text("10")
    b.write_text("max")
    with pytest.raises(NotFound, match=r"^memory\.limit: "):
        write_all(
            [
                (str(a), "50", "pids"),
                (str(b), "100", "memory"),
                (str(rtcg_dir / "missing"), "1", "memory.limit"),
            ],
            undo=True,
            what="cgroup /t",
        )
    assert (a.read_text(), b.read_text()) == ("10", "max")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"memory": {"swappiness": 10}}, "memory.swappiness"),
        ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller"),
        ({"cpu": {"realtimeRuntime": 1000}}, "cpu.realtimeRuntime"),
    ],
)
def test_v1_only_settings_are_refused_on_v2(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(Unimplemented, match=rf"linux\.resources\.{field}"):
        plan_v2_writes(Resources.from_spec(spec))


def test_exported_members() -> None:
    import wharf.runtime.capabilities
    import wharf.runtime.cgroups
    import wharf.runtime.cgroups.devices
    import wharf.runtime.seccomp

    for module in (
        wharf.runtime.cgroups,
        wharf.runtime.cgroups.devices,
        wharf.runtime.seccomp,
        wharf.runtime.capabilities,
    ):
        public = {n for n in vars(module) if not n.startswith("_")}
        assert set(module.__all__) <= public, module.__name__
        assert module.__doc__, module.__name__
