"""``--init``, ``--privileged`` and ``--device`` through the real docker CLI."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from tests.e2e.daemon.harness import Daemon, short_root

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/docker-init"), reason="needs tini as /usr/bin/docker-init"
)


def out(result) -> str:
    return result.stdout.decode()


def _host_config(daemon: Daemon, name: str) -> dict:
    result = daemon.docker("inspect", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["HostConfig"]


# ---- --init -------------------------------------------------------------------------------


def test_init_is_pid_1_and_inspect_shows_it(daemon: Daemon) -> None:
    result = daemon.docker("run", "--rm", "--init", "busybox", "ps", "-o", "pid,args")
    assert result.returncode == 0, result.stderr
    lines = [line.split(None, 1) for line in out(result).splitlines()[1:]]
    assert lines[0] == ["1", "/sbin/docker-init -- ps -o pid,args"]
    assert lines[1] == ["2", "ps -o pid,args"]
    plain = daemon.docker("run", "--rm", "busybox", "ps", "-o", "pid,args")
    assert out(plain).splitlines()[1].split(None, 1) == ["1", "ps -o pid,args"]

    daemon.docker("create", "--init", "--name", "with-init", "busybox", "true")
    daemon.docker("create", "--name", "without-init", "busybox", "true")
    try:
        assert _host_config(daemon, "with-init")["Init"] is True
        assert "Init" not in _host_config(daemon, "without-init")  # unset, as dockerd shows it
        inspected = json.loads(daemon.docker("inspect", "with-init").stdout)[0]
        assert (inspected["Path"], inspected["Args"]) == ("true", [])  # the user's command
    finally:
        daemon.docker("rm", "with-init", "without-init")


def test_init_forwards_signals_to_the_child(daemon: Daemon) -> None:
    # sleep as pid 1 ignores SIGTERM (no handler): only the kill after the timeout stops it.
    # Under docker-init, the TERM reaches sleep, which dies of it, and init exits 128+15.
    daemon.docker("run", "-d", "--init", "--name", "forwarded", "busybox", "sleep", "300")
    daemon.docker("run", "-d", "--name", "pid1", "busybox", "sleep", "300")
    try:
        started = time.monotonic()
        assert daemon.docker("stop", "-t", "3", "forwarded").returncode == 0
        took = time.monotonic() - started
        assert out(daemon.docker("inspect", "-f", "{{.State.ExitCode}}", "forwarded")) == "143\n"
        assert took < 2.5
        daemon.docker("stop", "-t", "1", "pid1")
        assert out(daemon.docker("inspect", "-f", "{{.State.ExitCode}}", "pid1")) == "137\n"
    finally:
        daemon.docker("rm", "-f", "forwarded", "pid1")


def test_init_reaps_orphaned_zombies(daemon: Daemon) -> None:
    # The subshell's sleep is orphaned to pid 1; plain `sleep 30` as pid 1 never waits for it.
    script = "(sleep 0.2 &); exec sleep 30"
    daemon.docker("run", "-d", "--init", "--name", "reaped", "busybox", "sh", "-c", script)
    daemon.docker("run", "-d", "--name", "zombied", "busybox", "sh", "-c", script)
    try:
        time.sleep(1.5)
        reaped = out(daemon.docker("exec", "reaped", "ps", "-o", "stat,comm"))
        zombied = out(daemon.docker("exec", "zombied", "ps", "-o", "stat,comm"))
        assert "sleep" in reaped
        assert not [line for line in reaped.splitlines() if line.startswith("Z")], reaped
        assert [line for line in zombied.splitlines() if line.startswith("Z")], zombied
    finally:
        daemon.docker("rm", "-f", "reaped", "zombied")


def test_init_flag_false_overrides_nothing_and_bad_init_path_is_refused(
    daemon: Daemon, tmp_path: Path
) -> None:
    result = daemon.docker("run", "--rm", "--init=false", "busybox", "ps", "-o", "pid,args")
    assert out(result).splitlines()[1].split(None, 1) == ["1", "ps -o pid,args"]
    bad = daemon.wharf(
        "daemon", "-H", f"unix://{tmp_path}/x.sock", "--init-path", str(tmp_path / "no-tini")
    )
    assert bad.returncode != 0
    assert b"--init-path" in bad.stderr
    assert b"expected an executable file" in bad.stderr


# ---- --privileged ----------------------------------------------------------------------------


def _cap_bounding() -> str:
    with open("/proc/self/status") as f:
        return next(line.split()[1] for line in f if line.startswith("CapBnd:"))


def test_privileged_gets_every_capability_devices_and_mounts(daemon: Daemon) -> None:
    script = (
        "grep CapEff /proc/self/status; ls /dev; grep ' /sys ' /proc/mounts; "
        "mkdir -p /tmp/t && mount -t tmpfs x /tmp/t && echo MOUNTED"
    )
    result = daemon.docker("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    text = out(result)
    assert f"CapEff:\t{_cap_bounding()}" in text  # everything the daemon itself holds
    names = set(text.split())
    block = [
        e.name for e in os.scandir("/dev") if stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)
    ]
    assert block
    assert set(block) <= names  # the host's block devices' nodes
    assert " /sys sysfs rw," in text
    assert "MOUNTED" in text

    plain = out(daemon.docker("run", "--rm", "busybox", "sh", "-c", script))
    assert "CapEff:\t00000000a80425fb" in plain
    assert not set(block) & set(plain.split())
    assert " /sys sysfs ro," in plain
    assert "MOUNTED" not in plain


def test_default_seccomp_profile_unless_unconfined_or_privileged(daemon: Daemon) -> None:
    status = "grep Seccomp: /proc/self/status; unshare -U true && echo UNSHARED"
    plain = out(daemon.docker("run", "--rm", "busybox", "sh", "-c", status))
    assert "Seccomp:\t2" in plain  # a filter, as Docker's default profile
    assert "UNSHARED" not in plain  # unshare is blocked by it
    for flags in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        free = out(daemon.docker("run", "--rm", *flags, "busybox", "sh", "-c", status))
        assert "Seccomp:\t0" in free, flags
    daemon.docker("run", "-d", "--name", "sc", "--security-opt", "seccomp=unconfined", "busybox")
    try:
        assert _host_config(daemon, "sc")["SecurityOpt"] == ["seccomp=unconfined"]
    finally:
        daemon.docker("rm", "-f", "sc")


def test_privileged_devices_cgroup_allows_all(daemon: Daemon) -> None:
    cid = out(daemon.docker("run", "-d", "--privileged", "busybox", "sleep", "30")).strip()
    plain = out(daemon.docker("run", "-d", "busybox", "sleep", "30")).strip()
    try:
        base = Path("/sys/fs/cgroup/devices") / daemon.cgroup_parent
        if not base.is_dir():
            pytest.skip("no cgroup v1 devices hierarchy")
        assert (base / cid / "devices.list").read_text() == "a *:* rwm\n"
        assert "a *:* rwm" not in (base / plain / "devices.list").read_text()
        assert _host_config(daemon, cid)["Privileged"] is True
    finally:
        daemon.docker("rm", "-f", cid, plain)


# ---- --device --------------------------------------------------------------------------------


def test_device_mapping_creates_the_node_at_the_new_path(daemon: Daemon) -> None:
    result = daemon.docker(
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/myzero",
        "busybox",
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/myzero; head -c 3 /dev/myzero | od -An -tx1",
    )
    assert result.returncode == 0, result.stderr
    assert out(result).split("\n")[:2] == ["character special file 1:5", " 00 00 00"]


def test_device_permissions_limit_access(daemon: Daemon) -> None:
    # loop-control (10:237) is not in the default allow list, so the mapping's rule decides.
    script = (
        "exec 3</dev/lc && echo READ-OK; exec 4>/dev/lc && echo WRITE-OK; ls /dev/lc 2>&1 || true"
    )
    read_only = daemon.docker(
        "run", "--rm", "--device", "/dev/loop-control:/dev/lc:r", "busybox", "sh", "-c", script
    )
    assert "READ-OK" in out(read_only)
    assert "WRITE-OK" not in out(read_only)
    assert b"Operation not permitted" in read_only.stderr
    read_write = daemon.docker(
        "run", "--rm", "--device", "/dev/loop-control:/dev/lc:rw", "busybox", "sh", "-c", script
    )
    assert "READ-OK\nWRITE-OK\n" in out(read_write), read_write.stderr
    unmapped = daemon.docker("run", "--rm", "busybox", "sh", "-c", "ls /dev/lc")
    assert unmapped.returncode != 0


def test_device_cgroup_rules_allow_nodes_the_container_makes(daemon: Daemon) -> None:
    # loop-control (10:237): not in the default allow list; CAP_MKNOD lets the container
    # make the node, the devices cgroup decides whether it may open it.
    script = "mknod /dev/lc c 10 237 && exec 3</dev/lc && echo OPENED"
    rules = {"": None, "c 10:237 r": "OPENED", "c 10:* rw": "OPENED", "b *:* rwm": None}
    for rule, expected in rules.items():
        flags = ("--device-cgroup-rule", rule) if rule else ()
        result = daemon.docker("run", "--rm", *flags, "busybox", "sh", "-c", script)
        if expected is None:
            assert b"Operation not permitted" in result.stderr, rule
        else:
            assert out(result).strip() == expected, (rule, result.stderr)
    daemon.docker("create", "--name", "rules", "--device-cgroup-rule", "c 10:* rw", "busybox")
    try:
        assert _host_config(daemon, "rules")["DeviceCgroupRules"] == ["c 10:* rw"]
    finally:
        daemon.docker("rm", "rules")


def _cgroup_dir(daemon: Daemon, name: str, controller: str) -> Path:
    pid = out(daemon.docker("inspect", "-f", "{{.State.Pid}}", name)).strip()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    raise AssertionError(f"{name} has no {controller} cgroup")


def test_block_device_throttles_and_swappiness_reach_the_cgroup(daemon: Daemon) -> None:
    disk = next((d for d in ("/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(d)), "")
    if not disk or not Path("/sys/fs/cgroup/blkio").is_dir():
        pytest.skip("no disk or no cgroup v1 blkio hierarchy")
    rdev = os.stat(disk).st_rdev
    number = f"{os.major(rdev)}:{os.minor(rdev)}"
    result = daemon.docker(
        "run",
        "-d",
        "--name",
        "bio",
        "--device-read-bps",
        f"{disk}:1mb",
        "--device-write-iops",
        f"{disk}:100",
        "-m",
        "64m",
        "--memory-swappiness",
        "7",
        "busybox",
        "sleep",
        "300",
    )
    assert result.returncode == 0, result.stderr
    try:
        blkio = _cgroup_dir(daemon, "bio", "blkio")
        assert (blkio / "blkio.throttle.read_bps_device").read_text() == f"{number} 1048576\n"
        assert (blkio / "blkio.throttle.write_iops_device").read_text() == f"{number} 100\n"
        memory = _cgroup_dir(daemon, "bio", "memory")
        assert (memory / "memory.swappiness").read_text().strip() == "7"
        host = _host_config(daemon, "bio")
        assert host["BlkioDeviceReadBps"] == [{"Path": disk, "Rate": 1048576}]
        assert host["MemorySwappiness"] == 7
    finally:
        daemon.docker("rm", "-f", "bio")
    for bad, message in (("/dev/null", "is not a block device"), ("/dev/nope", "does not exist")):
        refused = daemon.docker("run", "--rm", "--device-read-bps", f"{bad}:1mb", "busybox", "true")
        assert refused.returncode == 125 and message.encode() in refused.stderr


def test_device_inspect_shows_the_mapping(daemon: Daemon) -> None:
    daemon.docker("create", "--name", "dev", "--device", "/dev/zero:/dev/z:rw", "busybox", "true")
    try:
        assert _host_config(daemon, "dev")["Devices"] == [
            {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "rw"}
        ]
    finally:
        daemon.docker("rm", "dev")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (
            "/dev/d2-no-such-device",
            "error gathering device information while adding custom device "
            '"/dev/d2-no-such-device": no such file or directory',
        ),
        (
            "/etc/passwd",
            "error gathering device information while adding custom device "
            '"/etc/passwd": not a device node',
        ),
        ("/dev/zero:/etc/zero", "'/etc/zero' is not under /dev/"),
    ],
)
def test_bad_devices_get_a_clear_error_and_leave_nothing(
    daemon: Daemon, device: str, message: str
) -> None:
    before = out(daemon.docker("ps", "-aq"))
    result = daemon.docker("run", "--rm", "--device", device, "busybox", "true")
    assert result.returncode != 0
    assert message in result.stderr.decode()
    assert out(daemon.docker("ps", "-aq")) == before


def test_wharf_cli_passes_init_privileged_and_devices(daemon: Daemon) -> None:
    script = "ps -o pid,args | sed -n 2p; stat -c %t:%T /dev/z; grep CapEff /proc/self/status"
    result = daemon.wharf(
        "run",
        "--rm",
        "--init",
        "--privileged",
        "--device",
        "/dev/zero:/dev/z:r",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert result.returncode == 0, result.stderr
    lines = out(result).splitlines()
    assert lines[0].split(None, 1) == ["1", f"/sbin/docker-init -- sh -c {script}"]
    assert lines[1:] == ["1:5", f"CapEff:\t{_cap_bounding()}"]
    bad = daemon.wharf("run", "--rm", "--device", "/dev/zero:/a:/b:rw", "busybox", "true")
    assert bad.returncode != 0
    assert b"invalid device specification" in bad.stderr


def test_daemon_wide_init_default(busybox_tar: Path) -> None:
    d = Daemon(short_root())
    d.extra_args = ["--init", "--init-path", "/usr/bin/docker-init"]
    try:
        d.start()
        assert d.docker("load", "-i", str(busybox_tar)).returncode == 0
        # --network none: this second daemon's bridge shares the module daemon's subnet.
        default = d.docker("run", "--rm", "--network", "none", "busybox", "ps", "-o", "pid,args")
        assert out(default).splitlines()[1].split(None, 1) == [
            "1",
            "/sbin/docker-init -- ps -o pid,args",
        ]
        opted_out = d.docker(
            "run", "--rm", "--network", "none", "--init=false", "busybox", "ps", "-o", "pid,args"
        )
        assert out(opted_out).splitlines()[1].split(None, 1) == ["1", "ps -o pid,args"]
        info = json.loads(d.docker("info", "--format", "{{json .}}").stdout)
        assert info["InitBinary"] == "docker-init"
    finally:
        d.cleanup()


def test_exec_privileged_and_in_a_privileged_container(daemon: Daemon) -> None:
    daemon.docker("run", "-d", "--name", "plain-x", "busybox", "sleep", "300")
    daemon.docker("run", "-d", "--privileged", "--name", "priv-x", "busybox", "sleep", "300")
    try:
        status = ("grep", "CapEff", "/proc/self/status")
        full = f"CapEff:\t{_cap_bounding()}\n"
        assert out(daemon.docker("exec", "plain-x", *status)) == "CapEff:\t00000000a80425fb\n"
        assert out(daemon.docker("exec", "--privileged", "plain-x", *status)) == full
        assert out(daemon.docker("exec", "priv-x", *status)) == full
    finally:
        daemon.docker("rm", "-f", "plain-x", "priv-x")


# ---- --cap-add / --cap-drop ------------------------------------------------------------------


def test_cap_add_and_cap_drop(daemon: Daemon) -> None:
    # Changing a link of the container's own network namespace needs CAP_NET_ADMIN.
    set_mtu = ("ip", "link", "set", "lo", "mtu", "1400")
    denied = daemon.docker("run", "--rm", "busybox", *set_mtu)
    assert denied.returncode != 0
    assert b"Operation not permitted" in denied.stderr
    granted = daemon.docker("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", *set_mtu)
    assert granted.returncode == 0, granted.stderr
    chown = ("chown", "65534", "/tmp")
    assert daemon.docker("run", "--rm", "busybox", *chown).returncode == 0
    dropped = daemon.docker("run", "--rm", "--cap-drop", "chown", "busybox", *chown)
    assert dropped.returncode != 0
    assert b"Operation not permitted" in dropped.stderr
    only = daemon.docker(
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "KILL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    )
    assert out(only) == "CapEff:\t0000000000000020\n"  # CAP_KILL is bit 5
    daemon.docker("create", "--name", "capped", "--cap-add", "NET_ADMIN", "busybox", "true")
    try:
        assert _host_config(daemon, "capped")["CapAdd"] == ["CAP_NET_ADMIN"]
        in_exec = daemon.docker("start", "capped")
        assert in_exec.returncode == 0
    finally:
        daemon.docker("rm", "-f", "capped")
    wharf = daemon.wharf("run", "--rm", "--cap-add", "net_admin", "busybox", *set_mtu)
    assert wharf.returncode == 0, wharf.stderr


def test_unknown_capability_is_refused_and_leaves_nothing(daemon: Daemon) -> None:
    before = out(daemon.docker("ps", "-aq"))
    result = daemon.docker("run", "--rm", "--cap-add", "BOGUS", "busybox", "true")
    assert result.returncode == 125
    assert "HostConfig.CapAdd[0]: unknown capability 'CAP_BOGUS'" in result.stderr.decode()
    assert out(daemon.docker("ps", "-aq")) == before


# ---- --shm-size, --sysctl, --ulimit, --security-opt; refused options ---------------------


def test_shm_size_sysctl_ulimit_and_no_new_privileges(daemon: Daemon) -> None:
    script = (
        "df -k /dev/shm | tail -1; cat /proc/sys/net/ipv4/ip_forward; "
        "cat /proc/sys/kernel/msgmax; ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status"
    )
    result = daemon.docker(
        "run",
        "--rm",
        "--shm-size",
        "32m",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.msgmax=12345",
        "--ulimit",
        "nofile=512:1024",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert result.returncode == 0, result.stderr
    lines = out(result).splitlines()
    assert lines[0].split()[1] == "32768"  # 1K-blocks of /dev/shm
    assert lines[1:] == ["1", "12345", "512", "1024", "NoNewPrivs:\t1"]
    plain = out(daemon.docker("run", "--rm", "busybox", "sh", "-c", script)).splitlines()
    assert plain[0].split()[1] == "65536"
    assert plain[-1] == "NoNewPrivs:\t0"
    daemon.docker(
        "run",
        "-d",
        "--name",
        "nnp",
        "--security-opt",
        "no-new-privileges:true",
        "--ulimit",
        "nofile=512:1024",
        "busybox",
        "sleep",
        "300",
    )
    try:
        # An exec'd process has the container's no_new_privs and rlimits (moby's).
        nnp = daemon.docker(
            "exec", "nnp", "sh", "-c", "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn"
        )
        assert out(nnp) == "NoNewPrivs:\t1\n512\n1024\n"
        assert _host_config(daemon, "nnp")["SecurityOpt"] == ["no-new-privileges"]
    finally:
        daemon.docker("rm", "-f", "nnp")
    daemon.docker(
        "create",
        "--name",
        "opts",
        "--shm-size",
        "32m",
        "--ulimit",
        "nproc=10:20",
        "busybox",
        "true",
    )
    try:
        host = _host_config(daemon, "opts")
        assert host["ShmSize"] == 32 << 20
        assert host["Ulimits"] == [{"Name": "nproc", "Soft": 10, "Hard": 20}]
    finally:
        daemon.docker("rm", "opts")


def test_the_containers_own_cgroups_are_mounted_read_only(daemon: Daemon) -> None:
    # As under dockerd: tools in the container (the JVM, automaxprocs) read their limits here.
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        " /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/pids/x || echo read-only"
    )
    flags = ("-m", "32m", "--cpus", "0.5", "--pids-limit", "50")
    result = daemon.docker("run", "--rm", *flags, "busybox", "sh", "-c", script)
    assert out(result).split() == ["33554432", "50000", "50", "read-only"], result.stderr
    # Without a cpu limit the container has no cpu cgroup of its own, and sees none.
    plain = daemon.docker("run", "--rm", "busybox", "ls", "/sys/fs/cgroup")
    assert "memory" in out(plain).split() and "cpu" not in out(plain).split()
    privileged = daemon.docker(
        "run", "--rm", "--privileged", "busybox", "sh", "-c", "touch /sys/fs/cgroup/x && echo rw"
    )
    assert out(privileged) == "rw\n", privileged.stderr


def test_oom_kill_disable_makes_a_hog_wait_at_its_limit(daemon: Daemon) -> None:
    control = "/sys/fs/cgroup/memory/memory.oom_control"
    flags = ("-m", "32m", "--memory-swap", "32m", "--oom-kill-disable")
    daemon.docker(
        "run",
        "-d",
        "--name",
        "nooom",
        *flags,
        "busybox",
        "sh",
        "-c",
        f"cat {control}; x=aaaaaaaa; while true; do x=$x$x; done",
    )
    try:
        deadline = time.monotonic() + 10
        while "under_oom 1" not in out(daemon.docker("logs", "nooom")) + _oom(daemon):
            assert time.monotonic() < deadline, out(daemon.docker("logs", "nooom"))
            time.sleep(0.1)
        assert out(daemon.docker("logs", "nooom")).splitlines()[0] == "oom_kill_disable 1"
        state = json.loads(out(daemon.docker("inspect", "nooom")))[0]
        assert state["State"]["Running"] and state["HostConfig"]["OomKillDisable"] is True
    finally:
        daemon.docker("rm", "-f", "nooom")


def _oom(daemon: Daemon) -> str:
    """The hog's memory.oom_control, read from the host."""
    cid = out(daemon.docker("inspect", "-f", "{{.Id}}", "nooom")).strip()
    paths = Path("/sys/fs/cgroup/memory").glob(f"**/{cid}/memory.oom_control")
    return "".join(p.read_text() for p in paths)


def test_oom_score_adj_holds_for_the_container_and_its_execs(daemon: Daemon) -> None:
    # Positive values: a negative one needs CAP_SYS_RESOURCE, which these machines' root
    # lacks (their bounding set has it dropped).
    adj = "cat /proc/self/oom_score_adj"
    result = daemon.docker("run", "--rm", "--oom-score-adj", "500", "busybox", "sh", "-c", adj)
    assert out(result) == "500\n", result.stderr
    daemon.docker("run", "-d", "--name", "oom", "--oom-score-adj", "300", "busybox", "sleep", "60")
    try:
        assert out(daemon.docker("exec", "oom", "sh", "-c", adj)) == "300\n"
        assert _host_config(daemon, "oom")["OomScoreAdj"] == 300
    finally:
        daemon.docker("rm", "-f", "oom")
    bad = daemon.docker("run", "--rm", "--oom-score-adj", "1001", "busybox", "true")
    assert bad.returncode == 125 and "the range is [-1000, 1000]" in bad.stderr.decode()


def test_user_groups_and_group_add_as_dockerd_gives_them(daemon: Daemon) -> None:
    # The lines dockerd 20.10 printed for the same image and flags.
    setup = (
        "echo wheel:x:10:root,nobody >> /etc/group; echo staff:x:50:nobody >> /etc/group; "
        "echo nobody:x:65534:65534:nobody:/:/bin/sh >> /etc/passwd"
    )
    assert daemon.docker("run", "--name", "grp-src", "busybox", "sh", "-c", setup).returncode == 0
    daemon.docker("commit", "grp-src", "grp", check=True)
    cases = [
        (("busybox",), "uid=0(root) gid=0(root) groups=0(root)"),
        (("grp",), "uid=0(root) gid=0(root) groups=0(root),10(wheel)"),
        (
            ("-u", "nobody", "grp"),
            "uid=65534(nobody) gid=65534(nogroup) groups=10(wheel),50(staff),65534(nogroup)",
        ),
        (
            ("--group-add", "staff", "--group-add", "1234", "grp"),
            "uid=0(root) gid=0(root) groups=0(root),10(wheel),50(staff),1234",
        ),
        (("-u", "1000", "grp"), "uid=1000 gid=0(root) groups=0(root)"),
    ]
    try:
        for flags, expected in cases:
            assert out(daemon.docker("run", "--rm", *flags, "id")).strip() == expected, flags
        bad = daemon.docker("run", "--rm", "--group-add", "nosuch", "grp", "true")
        assert bad.returncode != 0
        assert "Unable to find group nosuch" in bad.stderr.decode()
        daemon.docker("run", "-d", "--name", "grp-run", "--group-add", "1234", "grp", "sleep", "60")
        assert _host_config(daemon, "grp-run")["GroupAdd"] == ["1234"]
        exec_id = out(daemon.docker("exec", "grp-run", "id")).strip()
        assert exec_id == "uid=0(root) gid=0(root) groups=0(root),10(wheel),1234"
    finally:
        daemon.docker("rm", "-f", "grp-src", "grp-run")
        daemon.docker("rmi", "grp")


def test_tmpfs_mounts_with_dockers_defaults_and_the_given_options(daemon: Daemon) -> None:
    script = (
        "grep -E ' /(run|x) ' /proc/mounts; stat -c %a /run; "
        "cp /bin/busybox /x/echo && /x/echo ran; cp /bin/busybox /run/true; /run/true || echo no"
    )
    daemon.docker(
        "run",
        "--name",
        "tmpfs",
        "--tmpfs",
        "/run:rw,size=1m,mode=1777",
        "--tmpfs",
        "/x:exec",
        "busybox",
        "sh",
        "-c",
        script,
    )
    try:
        result = daemon.docker("logs", "tmpfs")
        lines = out(result).splitlines()
        run = dict(o.partition("=")[::2] for o in lines[0].split()[3].split(","))
        assert lines[0].split()[:3] == ["tmpfs", "/run", "tmpfs"]
        assert {"rw", "nosuid", "nodev", "noexec"} <= set(run) and run["size"] == "1024k"
        x = lines[1].split()
        assert x[1] == "/x" and "noexec" not in x[3].split(",")
        assert lines[2:4] == ["1777", "ran"]  # mode=1777; exec allowed on /x only
        assert "Permission denied" in result.stderr.decode() and lines[4] == "no"
        tmpfs = _host_config(daemon, "tmpfs")["Tmpfs"]
        assert tmpfs == {"/run": "rw,size=1m,mode=1777", "/x": "exec"}
    finally:
        daemon.docker("rm", "tmpfs")


@pytest.mark.parametrize(
    ("flags", "code", "message"),
    [
        (
            ("--network", "host", "--sysctl", "net.ipv4.ip_forward=1"),
            125,
            "not allowed in the host network namespace",
        ),
        (("--security-opt", "apparmor=my-profile"), 125, "HostConfig.SecurityOpt"),
        (("--ipc", "host", "--sysctl", "kernel.shmmax=1"), 125, "in the host IPC namespace"),
        (("--uts", "host", "--hostname", "box"), 125, "hostname and the UTS mode"),
        (("--tmpfs", "/run:rw,nope"), 125, "HostConfig.Tmpfs['/run']: invalid tmpfs option"),
        (("--tmpfs", "/run", "-v", "/tmp:/run"), 125, "Duplicate mount point: /run"),
        (("--gpus", "all"), 125, "HostConfig.DeviceRequests"),
    ],
)
def test_unsupported_or_bad_options_are_refused(
    daemon: Daemon, flags: tuple[str, ...], code: int, message: str
) -> None:
    before = out(daemon.docker("ps", "-aq"))
    result = daemon.docker("run", "--rm", *flags, "busybox", "true")
    assert result.returncode == code, result.stderr
    assert message in result.stderr.decode()
    assert out(daemon.docker("ps", "-aq")) == before
