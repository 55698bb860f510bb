"""Terminal, user namespaces, joined namespaces, hooks, and bad input: wharf-runtime next
to runc where runc has the feature."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import (  # type: ignore[import-not-found]
    BundleFactory,
    Runtimes,
    leftovers,
    make_bundle,
    rootfs,
    runtimes,
)

__all__ = ["make_bundle", "rootfs", "runtimes"]

RUNTIMES = ("wharf", "runc")


def _receive_console(listener: socket.socket, box: dict[str, Any]) -> None:
    conn, _ = listener.accept()
    with conn:
        msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    box["name"] = msg.decode()
    box["fd"] = fds[0]


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the slave side is closed
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("rt", RUNTIMES)
def test_console_socket_pty_and_size(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["terminal"] = True
        config["process"]["consoleSize"] = {"height": 33, "width": 77}

    script = "stty size; tty; [ -t 0 ] && echo stdin-is-tty; ls -l /dev/console | cut -c1"
    bundle = make_bundle(["sh", "-c", script], edit)
    cid = runtimes.new_id(rt, "pty")
    path = str(runtimes.base / f"console-{rt}.sock")
    box: dict[str, Any] = {}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(30)
        thread = threading.Thread(target=_receive_console, args=(listener, box))
        thread.start()
        r = runtimes.call(rt, "create", "--bundle", bundle, "--console-socket", path, cid)
        thread.join(30)
    assert r.rc == 0, r.err
    master = box["fd"]
    try:
        assert box["name"]  # runc sends "/dev/ptmx", we send the slave's path
        assert runtimes.call(rt, "start", cid).rc == 0
        out = _read_all(master).decode().replace("\r", "").splitlines()
    finally:
        os.close(master)
    assert out[0] == "33 77"
    assert out[1].startswith("/dev/pts/")
    assert out[2] == "stdin-is-tty"
    assert out[3] == "c"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_user_namespace_maps_root_to_unprivileged_uid(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"].append({"type": "user"})
        mapping = [{"containerID": 0, "hostID": 231072, "size": 65536}]
        config["linux"]["uidMappings"] = mapping
        config["linux"]["gidMappings"] = mapping

    bundle = make_bundle(["sleep", "100"], edit)
    cid = runtimes.new_id(rt, "userns")
    r = runtimes.call(rt, "run", "-d", "--bundle", bundle, cid)
    assert r.rc == 0, r.err
    pid = runtimes.state(rt, cid)["pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["231072"] * 4  # root inside is 231072 outside
    r = runtimes.call(rt, "exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; hostname")
    assert r.rc == 0, r.err
    lines = r.out.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "231072", "65536"]
    assert lines[2] == "runc"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_join_network_namespace_by_path(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    first = runtimes.new_id(rt, "netA")
    assert runtimes.call(rt, "run", "-d", "--bundle", make_bundle(["sleep", "100"]), first).rc == 0
    pid = runtimes.state(rt, first)["pid"]
    theirs = os.readlink(f"/proc/{pid}/ns/net")
    assert theirs != os.readlink("/proc/self/ns/net")

    def edit(config: dict[str, Any]) -> None:
        for ns in config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/proc/{pid}/ns/net"

    second = runtimes.new_id(rt, "netB")
    bundle = make_bundle(["readlink", "/proc/self/ns/net"], edit)
    r = runtimes.call(rt, "run", "--bundle", bundle, second)
    assert r.rc == 0, r.err
    assert r.out.strip() == theirs


def _hook_script(tmp: Path, name: str) -> dict[str, Any]:
    script = tmp / f"hook-{name}.sh"
    script.write_text(f"#!/bin/sh\ncat > {tmp}/{name}.json\n")
    script.chmod(0o755)
    return {"path": str(script), "args": [str(script)]}


def test_hooks_get_the_state_at_each_point(runtimes: Runtimes, make_bundle: BundleFactory) -> None:
    tmp = runtimes.base
    points = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]

    def edit(config: dict[str, Any]) -> None:
        config["hooks"] = {p: [_hook_script(tmp, p)] for p in points}

    cid = runtimes.new_id("wharf", "hooks")
    bundle = make_bundle(["sleep", "100"], edit)
    assert runtimes.call("wharf", "create", "--bundle", bundle, cid).rc == 0
    pid = runtimes.state("wharf", cid)["pid"]
    for point in ("prestart", "createRuntime", "createContainer"):
        state = json.loads((tmp / f"{point}.json").read_text())
        assert (state["id"], state["pid"], state["bundle"]) == (cid, pid, bundle)
    assert not (tmp / "poststart.json").exists()
    assert runtimes.call("wharf", "start", cid).rc == 0
    assert json.loads((tmp / "poststart.json").read_text())["status"] == "running"
    assert runtimes.call("wharf", "delete", "--force", cid).rc == 0
    assert json.loads((tmp / "poststop.json").read_text())["id"] == cid


def test_failing_hook_aborts_create_and_leaves_nothing(
    runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["hooks"] = {"createRuntime": [{"path": "/bin/false", "args": ["false"]}]}

    cid = runtimes.new_id("wharf", "badhook")
    r = runtimes.call("wharf", "create", "--bundle", make_bundle(["true"], edit), cid)
    assert r.rc == 1
    assert "createRuntime hook /bin/false" in r.err
    assert not os.path.exists(os.path.join(runtimes.roots["wharf"], cid))
    assert leftovers(cid) == []


def _bad(config: dict[str, Any], change: str) -> None:
    if change == "namespace":
        config["linux"]["namespaces"][1] = {"type": "bogus"}
    elif change == "rootfs":
        config["root"]["path"] = "/nonexistent-rtcore-rootfs"
    elif change == "args-type":
        config["process"]["args"] = "sh -c true"
    elif change == "memory":
        config["linux"]["resources"]["memory"] = {"limit": 4096}
    elif change == "capability":
        config["process"]["capabilities"]["bounding"].append("CAP_NOT_A_CAP")
    elif change == "netns-path":
        config["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/0/ns/net"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("namespace", "linux.namespaces[1].type"),
        ("rootfs", "root.path"),
        ("args-type", "process.args"),
        ("memory", "linux.resources.memory.limit"),
        ("capability", "CAP_NOT_A_CAP"),
        ("netns-path", "linux.namespaces[1].path"),
    ],
)
def test_bad_config_names_the_field_and_leaves_nothing(
    change: str, field: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(["true"], lambda c: _bad(c, change))
    cid = runtimes.new_id("wharf", "bad")
    r = runtimes.call("wharf", "create", "--bundle", bundle, cid)
    assert r.rc == 1
    assert field in r.err
    assert r.err.count("\n") == 1  # one line, no traceback
    assert not os.path.exists(os.path.join(runtimes.roots["wharf"], cid))
    assert leftovers(cid) == []
    if change != "capability":  # runc only warns about unknown capabilities
        runc_id = runtimes.new_id("runc", "bad")
        assert runtimes.call("runc", "create", "--bundle", bundle, runc_id).rc != 0


def test_config_json_not_json_and_missing(runtimes: Runtimes, tmp_path: Path) -> None:
    cid = runtimes.new_id("wharf", "nojson")
    (tmp_path / "config.json").write_text("{not json")
    r = runtimes.call("wharf", "run", "--bundle", str(tmp_path), cid)
    assert r.rc == 1
    assert "config.json: not valid JSON" in r.err
    (tmp_path / "config.json").unlink()
    r = runtimes.call("wharf", "run", "--bundle", str(tmp_path), cid)
    assert r.rc == 1
    assert "config.json: no such file" in r.err
    assert leftovers(cid) == []


def test_duplicate_id_is_refused_and_the_first_container_survives(
    runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    cid = runtimes.new_id("wharf", "dup")
    bundle = make_bundle(["sleep", "100"])
    assert runtimes.call("wharf", "run", "-d", "--bundle", bundle, cid).rc == 0
    r = runtimes.call("wharf", "create", "--bundle", bundle, cid)
    assert r.rc == 1
    assert "already exists" in r.err
    assert runtimes.state("wharf", cid)["status"] == "running"


def test_state_of_unknown_container(runtimes: Runtimes) -> None:
    r = runtimes.call("wharf", "state", "rtcore-nope")
    assert r.rc == 1
    assert "container rtcore-nope: does not exist" in r.err
    r = runtimes.call("wharf", "kill", "rtcore-nope", "NOSUCHSIG")
    assert r.rc == 1


def test_sysctl_and_oom_score_adj_and_readonly_bind(
    runtimes: Runtimes, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("hello")

    def edit(config: dict[str, Any]) -> None:
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
        config["process"]["oomScoreAdj"] = 345
        config["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(tmp_path / "data"),
                "options": ["rbind", "ro", "nosuid"],
            }
        )

    script = (
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj "
        "/data/f; echo; touch /data/g 2>/dev/null && echo data=rw || echo data=ro"
    )
    results = {}
    for rt in RUNTIMES:
        cid = runtimes.new_id(rt, "sysctl")
        results[rt] = runtimes.call(
            rt, "run", "--bundle", make_bundle(["sh", "-c", script], edit), cid
        )
    assert results["wharf"].rc == 0, results["wharf"].err
    assert results["wharf"].out.split() == ["1", "1234", "345", "hello", "data=ro"]
    assert results["wharf"].out == results["runc"].out
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"


def test_kill_unknown_signal_and_delete_running(
    runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    cid = runtimes.new_id("wharf", "ks")
    assert (
        runtimes.call("wharf", "run", "-d", "--bundle", make_bundle(["sleep", "100"]), cid).rc == 0
    )
    r = runtimes.call("wharf", "kill", cid, "SIGNOPE")
    assert r.rc == 1
    assert "SIGNOPE" in r.err
    r = runtimes.call("wharf", "delete", cid)
    assert r.rc == 1
    assert "--force" in r.err
    assert runtimes.call("wharf", "delete", "--force", cid).rc == 0
    assert leftovers(cid) == []


SAFETY = r"""
grep '^Seccomp:' /proc/self/status
unshare -U true 2>/dev/null && echo unshare=allowed || echo unshare=denied
date -s 2000-01-01 >/dev/null 2>&1
[ "$(date +%Y)" = 2000 ] && echo clock=changed || echo clock=kept
insmod /nonexistent.ko 2>/dev/null && echo insmod=ok || echo insmod=denied
ls /dev | grep -c -E '^(vd|sd|nvme|loop)' || true
mknod /dev/vda b 254 0 2>/dev/null  # allowed ("b *:* m"), but the devices cgroup:
head -c1 /dev/vda >/dev/null 2>&1 && echo blockdev=read || echo blockdev=denied
(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo sysctl=written || echo sysctl=ro
"""


def test_docker_default_seccomp_and_host_safety(
    runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    from wharf.runtime.capabilities import DOCKER_DEFAULT
    from wharf.runtime.seccomp import default_profile

    caps = sorted(DOCKER_DEFAULT)

    def edit(config: dict[str, Any]) -> None:
        config["process"]["capabilities"] = {
            k: caps for k in ("bounding", "effective", "permitted")
        }
        config["linux"]["seccomp"] = default_profile(caps)

    bundle = make_bundle(["sh", "-c", SAFETY], edit)
    results = {}
    for rt in RUNTIMES:
        results[rt] = runtimes.call(rt, "run", "--bundle", bundle, runtimes.new_id(rt, "safe"))
        assert results[rt].rc == 0, results[rt].err
    assert results["wharf"].out.split("\n")[:7] == [
        "Seccomp:\t2",
        "unshare=denied",
        "clock=kept",
        "insmod=denied",
        "0",
        "blockdev=denied",
        "sysctl=ro",
    ]
    assert results["wharf"].out == results["runc"].out
    assert time.gmtime().tm_year > 2000


@pytest.mark.parametrize("rt", RUNTIMES)
def test_foreground_terminal_is_relayed(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    """``run`` of a terminal process without --console-socket: the pty is relayed to the
    caller's terminal, which lends its size."""

    def edit(config: dict[str, Any]) -> None:
        config["process"]["terminal"] = True

    # runc sizes the pty after starting the process: give it a moment; we size it before.
    delay = "sleep 0.5; " if rt == "runc" else ""
    script = delay + "stty size; read line; echo got:$line; exit 4"
    bundle = make_bundle(["sh", "-c", script], edit)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen(
        runtimes.cmd(rt, "run", "--bundle", bundle, runtimes.new_id(rt, "fg")),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        os.write(master, b"hello\r")
        out = _read_all(master).decode().replace("\r", "")
        assert proc.wait(timeout=30) == 4
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "40 100" in out
    assert "got:hello" in out


@pytest.mark.parametrize("rt", RUNTIMES)
def test_join_pid_uts_ipc_namespaces_by_path(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    def first_edit(config: dict[str, Any]) -> None:
        config["hostname"] = "rtcore-first"

    first = runtimes.new_id(rt, "pidA")
    bundle = make_bundle(["sleep", "100"], first_edit)
    assert runtimes.call(rt, "run", "-d", "--bundle", bundle, first).rc == 0
    pid = runtimes.state(rt, first)["pid"]

    def edit(config: dict[str, Any]) -> None:
        del config["hostname"]
        for ns in config["linux"]["namespaces"]:
            if ns["type"] in ("pid", "uts", "ipc"):
                ns["path"] = f"/proc/{pid}/ns/{ns['type']}"

    second = runtimes.new_id(rt, "pidB")
    script = "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/self/ns/ipc"
    r = runtimes.call(rt, "run", "--bundle", make_bundle(["sh", "-c", script], edit), second)
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "rtcore-first"
    assert lines[1].strip() == "sleep 100"  # pid 1 is the first container's process
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/ipc")


@pytest.mark.parametrize("rt", RUNTIMES)
def test_delete_created_container(rt: str, runtimes: Runtimes, make_bundle: BundleFactory) -> None:
    cid = runtimes.new_id(rt, "delc")
    assert runtimes.call(rt, "create", "--bundle", make_bundle(["true"]), cid).rc == 0
    pid = runtimes.state(rt, cid)["pid"]
    r = runtimes.call(rt, "delete", cid)
    assert r.rc == 0, r.err
    for _ in range(100):  # killed, then reaped by whoever inherited it
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
    assert runtimes.call(rt, "state", cid).rc != 0
    assert leftovers(cid) == []


@pytest.mark.parametrize("rt", RUNTIMES)
def test_start_container_hook_runs_inside(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    """startContainer hooks resolve in the container and run just before the process."""

    def edit(config: dict[str, Any]) -> None:
        config["hooks"] = {"startContainer": [{"path": "/hook-start.sh"}]}

    cid = runtimes.new_id(rt, "starthook")
    bundle = make_bundle(["cat", "/dev/shm/start-state.json"], edit)
    r = runtimes.call(rt, "run", "--bundle", bundle, cid)
    assert r.rc == 0, r.err
    state = json.loads(r.out)
    assert state["id"] == cid
    assert state["bundle"] == bundle


@pytest.mark.parametrize("rt", RUNTIMES)
def test_preserve_fds_and_nothing_else_leaks(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    data = runtimes.base / "fd3.txt"
    data.write_text("preserved\n")
    bundle = make_bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"])
    cid = runtimes.new_id(rt, "fds")
    command = " ".join(shlex.quote(a) for a in runtimes.cmd(rt, "run", "--preserve-fds", "1"))
    proc = subprocess.run(
        ["sh", "-c", f"exec 3<{data} 4<{data}; {command} --bundle {bundle} {cid}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "preserved"
    assert lines[1].split() == ["0", "1", "2", "3", "4"]  # 4: ls's own directory fd


@pytest.mark.parametrize("rt", RUNTIMES)
def test_exec_process_file_detached_with_pid_file(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    cid = runtimes.new_id(rt, "procfile")
    assert runtimes.call(rt, "run", "-d", "--bundle", make_bundle(["sleep", "100"]), cid).rc == 0
    process = {
        "args": ["sh", "-c", "echo $X > /dev/shm/x; exec sleep 99"],
        "cwd": "/",
        "env": ["PATH=/bin", "X=from-process-json"],
        "user": {"uid": 0, "gid": 0},
    }
    (runtimes.base / "process.json").write_text(json.dumps(process))
    pid_file = runtimes.base / f"exec-{rt}.pid"
    r = runtimes.call(
        rt,
        "exec",
        "-d",
        "--pid-file",
        str(pid_file),
        "--process",
        str(runtimes.base / "process.json"),
        cid,
    )
    assert r.rc == 0, r.err
    pid = int(pid_file.read_text())
    for _ in range(100):  # the exec'd sh becomes sleep 99
        if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0099\x00":
            break
        time.sleep(0.05)
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0099\x00"
    for _ in range(100):
        r = runtimes.call(rt, "exec", cid, "cat", "/dev/shm/x")
        if r.out:
            break
        time.sleep(0.05)
    assert r.out == "from-process-json\n"
    table = runtimes.call(rt, "ps", cid)
    assert table.rc == 0, table.err
    assert str(pid) in table.out.split()


def test_existing_cgroup_is_refused_and_kept(
    runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    cid = runtimes.new_id("wharf", "cgtaken")
    taken = f"/sys/fs/cgroup/pids/{cid}"
    os.mkdir(taken)
    try:

        def edit(config: dict[str, Any]) -> None:
            config["linux"]["cgroupsPath"] = f"/{cid}"

        r = runtimes.call("wharf", "create", "--bundle", make_bundle(["true"], edit), cid)
        assert r.rc == 1
        assert cid in r.err
        assert os.path.isdir(taken)  # someone else's: not removed
        assert not os.path.exists(os.path.join(runtimes.roots["wharf"], cid))
    finally:
        os.rmdir(taken)
    assert leftovers(cid) == []


def test_spec_devices_are_created(runtimes: Runtimes, make_bundle: BundleFactory) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["devices"] = [
            {"path": "/dev/extra/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640}
        ]
        config["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        )

    script = "ls -l /dev/extra/null2 | cut -c1-10; echo x > /dev/extra/null2 && echo writable"
    results = {}
    for rt in RUNTIMES:
        cid = runtimes.new_id(rt, "dev")
        results[rt] = runtimes.call(
            rt, "run", "--bundle", make_bundle(["sh", "-c", script], edit), cid
        )
        assert results[rt].rc == 0, results[rt].err
    assert results["wharf"].out.split() == ["crw-r-----", "writable"]
    assert results["wharf"].out == results["runc"].out


@pytest.mark.parametrize("rt", RUNTIMES)
def test_bind_propagation_and_flags(
    rt: str, runtimes: Runtimes, make_bundle: BundleFactory
) -> None:
    """An rslave bind of a shared host mount sees host mounts made after start; nosuid,
    nodev, noexec and ro show in the container's mount table."""
    shared = runtimes.base / f"shared-{rt}"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "rtcore-shared", str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        (shared / "later").mkdir()

        def edit(config: dict[str, Any]) -> None:
            config["linux"]["rootfsPropagation"] = "rslave"
            config["mounts"].append(
                {
                    "destination": "/vol",
                    "type": "bind",
                    "source": str(shared),
                    "options": ["rbind", "rslave", "nosuid", "nodev", "noexec", "ro"],
                }
            )

        cid = runtimes.new_id(rt, "prop")
        bundle = make_bundle(["sleep", "100"], edit)
        assert runtimes.call(rt, "run", "-d", "--bundle", bundle, cid).rc == 0
        subprocess.run(["mount", "-t", "tmpfs", "rtcore-later", str(shared / "later")], check=True)
        r = runtimes.call(rt, "exec", cid, "grep", " /vol", "/proc/self/mountinfo")
        assert r.rc == 0, r.err
        lines = r.out.splitlines()
        vol = next(line.split() for line in lines if line.split()[4] == "/vol")
        assert set(vol[5].split(",")) >= {"ro", "nosuid", "nodev", "noexec"}
        tags = vol[6 : vol.index("-")]
        assert any(t.startswith("master:") for t in tags), vol  # a slave, as asked
        assert not any(t.startswith("shared:") for t in tags), vol
        assert any(line.split()[4] == "/vol/later" for line in lines), lines
    finally:
        subprocess.run(["umount", "-R", "-l", str(shared)], check=False)
