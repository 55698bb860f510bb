"""Limits enforced by the kernel on a process that joined through Cgroup.join_fds()."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from rtcg_helpers import cg_path, run_in

from wharf.errors import Conflict, InvalidArgument
from wharf.runtime.cgroups import Resources, open_cgroup

__all__ = ["cg_path"]

MiB = 1024 * 1024


def test_memory_hog_is_oom_killed_at_the_limit(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}))
    hog = run_in(cg, "chunks = []\nwhile True: chunks.append(bytearray(1 << 20))")
    assert hog.wait(timeout=60) == -signal.SIGKILL
    stats = cg.stats()
    assert stats.memory.oom_kills >= 1
    assert cg.oom_kills() == stats.memory.oom_kills
    assert stats.memory.limit == 32 * MiB
    assert stats.memory.max_usage is not None
    assert 16 * MiB < stats.memory.max_usage <= 32 * MiB


def test_fork_loop_stops_at_pids_max(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"pids": {"limit": 8}}))
    code = """
import errno, os, sys, time
made, eagain = 0, 0
for _ in range(30):
    try:
        pid = os.fork()
    except BlockingIOError:
        eagain += 1
        continue
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    made += 1
print(made, eagain, flush=True)
sys.stdin.read()
"""
    p = run_in(cg, code, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert p.stdout is not None
    made, eagain = map(int, p.stdout.readline().split())
    assert made == 7  # the parent counts too: 8 tasks in all
    assert eagain == 23
    stats = cg.stats()
    assert stats.pids.current == 8
    assert stats.pids.limit == 8
    assert cg.kill_all(signal.SIGKILL) == 8
    p.wait(timeout=30)
    p.stdout.close()
    assert p.stdin is not None
    p.stdin.close()


def test_cpu_quota_throttles(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"cpu": {"quota": 10000, "period": 100000}}))
    spin = "import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass"
    assert run_in(cg, spin).wait(timeout=60) == 0
    cpu = cg.stats().cpu
    assert cpu.throttled_periods > 0
    assert cpu.throttled_ns > 0
    # 1 s of spinning at 10 % of one CPU: well under half a second of CPU time.
    assert 0 < cpu.total_ns < 500_000_000
    assert sum(cpu.percpu_ns) == cpu.total_ns


def _disk_of(path: str) -> tuple[int, int]:
    """major:minor of the whole disk holding ``path`` (throttling works on disks)."""
    dev = os.stat(path).st_dev
    major, minor = os.major(dev), os.minor(dev)
    sys_dir = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
    if os.path.exists(f"{sys_dir}/partition"):
        with open(f"{os.path.dirname(sys_dir)}/dev", encoding="ascii") as f:
            major, minor = map(int, f.read().split(":"))
    return major, minor


def test_blkio_write_bps_limits_the_rate(cg_path: str) -> None:
    workdir = f"/var/tmp/rtcg-blkio-{os.getpid()}"  # on the disk (/tmp could be tmpfs)
    os.makedirs(workdir, exist_ok=True)
    try:
        major, minor = _disk_of(workdir)
        rate = 1 * MiB
        cg = open_cgroup(cg_path)
        cg.create(
            Resources.from_spec(
                {
                    "blockIO": {
                        "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": rate}]
                    }
                }
            )
        )
        with open(f"/sys/fs/cgroup/blkio{cg_path}/blkio.throttle.write_bps_device") as f:
            assert f.read().split() == [f"{major}:{minor}", str(rate)]
        code = f"""
import mmap, os, time
buf = mmap.mmap(-1, 1 << 20)
buf.write(b"x" * (1 << 20))
fd = os.open("{workdir}/data", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
start = time.monotonic()
for _ in range(3):
    os.write(fd, buf)
os.fsync(fd)
print(time.monotonic() - start)
"""
        p = run_in(cg, code, stdout=subprocess.PIPE)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        elapsed = float(out)
        # 3 MiB at 1 MiB/s: the kernel lets the first slice through, the rest waits.
        assert elapsed >= 1.5
        assert cg.stats().blkio.total("Write") >= 3 * MiB
    finally:
        for name in os.listdir(workdir):
            os.unlink(f"{workdir}/{name}")
        os.rmdir(workdir)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_devices_deny_all_blocks_other_devices(cg_path: str, version: str) -> None:
    # v1: devices.deny/allow; v2 (the unified mount): the eBPF program.
    workdir = f"/tmp/rtcg-dev-{os.getpid()}"
    os.makedirs(workdir)
    try:
        cg = open_cgroup(cg_path, version=version)  # type: ignore[arg-type]
        assert cg.devices_enforced
        cg.create(Resources())
        disk = os.stat("/").st_dev
        code = f"""
import os, stat
results = []
os.mknod("{workdir}/null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
results.append(open("{workdir}/null", "wb").write(b"ok"))
os.mknod("{workdir}/disk", stat.S_IFBLK | 0o600, {disk})
os.mknod("{workdir}/kmsg", stat.S_IFCHR | 0o600, os.makedev(1, 11))
for path in ("{workdir}/disk", "{workdir}/kmsg"):
    try:
        open(path, "rb").close()
        results.append("opened " + path)
    except PermissionError:
        results.append("EPERM")
print(results)
"""
        p = run_in(cg, code, stdout=subprocess.PIPE)
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0
        # mknod is allowed ("b *:* m"), opening the raw disk or /dev/kmsg is not.
        assert out.decode().strip() == "[2, 'EPERM', 'EPERM']"
    finally:
        for name in os.listdir(workdir):
            os.unlink(f"{workdir}/{name}")
        os.rmdir(workdir)


def test_update_changes_limits_of_a_running_cgroup(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"memory": {"limit": 64 * MiB}, "pids": {"limit": 10}}))
    p = run_in(cg, "import time; time.sleep(30)")
    try:
        cg.update(
            Resources.from_spec(
                {"memory": {"limit": 128 * MiB, "swap": 256 * MiB}, "pids": {"limit": 20}}
            )
        )
        stats = cg.stats()
        assert stats.memory.limit == 128 * MiB
        assert stats.pids.limit == 20
        # Shrinking memory+swap below the new limit order works too (swap written last).
        cg.update(Resources.from_spec({"memory": {"limit": 96 * MiB, "swap": 96 * MiB}}))
        assert cg.stats().memory.limit == 96 * MiB
    finally:
        p.kill()
        p.wait()


def test_freeze_stops_a_counting_process_and_thaw_resumes_it(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources())
    counter = f"/tmp/rtcg-count-{os.getpid()}"
    code = f"""
import os
n = 0
while True:
    n += 1
    if n % 1000 == 0:
        os.pwrite(fd, str(n).encode().ljust(20), 0) if "fd" in dir() else None
    if n == 1:
        fd = os.open("{counter}", os.O_WRONLY | os.O_CREAT, 0o600)
"""
    p = run_in(cg, code)
    try:

        def count() -> int:
            with open(counter, "rb") as f:
                return int(f.read().strip() or 0)

        while not os.path.exists(counter) or count() == 0:
            time.sleep(0.01)
        cg.freeze()
        assert cg.state().value == "FROZEN"
        frozen_at = count()
        time.sleep(0.3)
        assert count() == frozen_at
        cg.thaw()
        assert cg.state().value == "THAWED"
        while count() == frozen_at:
            time.sleep(0.01)
        assert count() > frozen_at
    finally:
        p.kill()
        p.wait()
        os.unlink(counter)


def test_refused_update_leaves_the_old_limits(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(
        Resources.from_spec(
            {
                "memory": {"limit": 64 * MiB},
                "pids": {"limit": 10},
                "cpu": {"quota": 20000, "period": 100000},
            }
        )
    )
    with pytest.raises(InvalidArgument, match=r"blockIO\.throttleReadBpsDevice\[0\]"):
        cg.update(
            Resources.from_spec(
                {
                    "memory": {"limit": 128 * MiB},
                    "pids": {"limit": 50},
                    "cpu": {"quota": 50000},
                    "blockIO": {"throttleReadBpsDevice": [{"major": 4095, "minor": 7, "rate": 1}]},
                }
            )
        )
    stats = cg.stats()
    assert stats.memory.limit == 64 * MiB
    assert stats.pids.limit == 10
    with open(f"/sys/fs/cgroup/cpu{cg_path}/cpu.cfs_quota_us", encoding="ascii") as f:
        assert f.read().strip() == "20000"


def test_memory_limit_below_usage_is_refused_and_kept(cg_path: str) -> None:
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"memory": {"limit": 128 * MiB, "swap": 128 * MiB}}))
    code = "import sys\nb = bytearray(48 << 20)\nprint('ready', flush=True)\nsys.stdin.read()"
    p = run_in(cg, code, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdin is not None
    try:
        assert p.stdout.readline() == b"ready\n"
        with pytest.raises(Conflict, match=r"linux\.resources\.memory"):
            cg.update(Resources.from_spec({"memory": {"limit": 16 * MiB, "swap": 16 * MiB}}))
        assert cg.stats().memory.limit == 128 * MiB
        assert p.poll() is None  # refusing the limit did not OOM-kill the container
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        p.stdout.close()


def test_cpuset_pins_the_process(cg_path: str) -> None:
    last = max(os.sched_getaffinity(0))
    cg = open_cgroup(cg_path)
    cg.create(Resources.from_spec({"cpu": {"cpus": str(last), "mems": "0", "shares": 256}}))
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    p = run_in(cg, code, stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=30)
    assert out.decode().strip() == f"[{last}]"
    with open(f"/sys/fs/cgroup/cpu{cg_path}/cpu.shares", encoding="ascii") as f:
        assert f.read().strip() == "256"
