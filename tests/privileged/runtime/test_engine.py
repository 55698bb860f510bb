"""The engine's runtime interface on the real kernel: WharfRuntime (zygote + monitors + raw
clone) and OCIBinaryRuntime("runc") run the same busybox bundles; what a user of the
daemon observes (logs, exit codes, attach, resize, pause, exec) must be the same.

Every test has its own state root under /tmp/rtengine-*, container ids rtengine-*, and
cgroups under /rtengine-test; the fixtures remove all of it, and check that no monitor
process, mount or cgroup is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (  # type: ignore[import-not-found]
    WAIT,
    base_spec,
    bundle_for,
    cgroup_dirs,
    create,
    crun_runtime,
    log_entries,
    make_spec,
    remove_cgroup_parent,
    rootfs,
    run,
    runtime,
    wait_exit,
    wait_gone,
)

from wharf.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from wharf.mount import Mount
from wharf.runtime._engine_state import process_start_time
from wharf.runtime.engine import ContainerIO, MonitoredRuntime, WharfRuntime
from wharf.runtime.runc import OCIBinaryRuntime

__all__ = ["base_spec", "crun_runtime", "rootfs", "runtime"]  # fixtures, used by name


def test_output_lands_in_the_json_log_in_order_with_streams(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    log = run(
        runtime,
        base_spec,
        "rtengine-log",
        ["sh", "-c", "echo one; echo two >&2; echo three; hostname; echo pid $$; exit 3"],
    )
    entries = log_entries(log)
    # stdout and stderr are two pipes: order holds within each stream.
    assert [e["log"] for e in entries if e["stream"] == "stdout"] == [
        "one\n",
        "three\n",
        "rtengine-log\n",
        "pid 1\n",
    ]
    assert [e["log"] for e in entries if e["stream"] == "stderr"] == ["two\n"]
    assert all(e["time"].endswith("Z") and len(e["time"]) == 30 for e in entries)
    state = runtime.state("rtengine-log")
    assert (state.status, state.exit_code, state.pid) == ("stopped", 3, 0)
    assert state.started_at and state.finished_at and state.finished_at >= state.started_at


def test_long_line_is_split_at_16k_and_the_unterminated_tail_is_kept(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    log = run(
        runtime,
        base_spec,
        "rtengine-long",
        ["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; printf end"],
    )
    pieces = [e["log"] for e in log_entries(log)]
    assert [len(p) for p in pieces[:2]] == [16384, 16384]
    assert "".join(pieces) == "a" * 40000 + "end"


def test_exit_codes_zero_and_killed(runtime: MonitoredRuntime, base_spec: dict[str, Any]) -> None:
    run(runtime, base_spec, "rtengine-ok", ["true"])
    assert runtime.state("rtengine-ok").exit_code == 0
    create(runtime, base_spec, "rtengine-k9", ["sleep", "100"])
    fd = runtime.exit_fd("rtengine-k9")
    runtime.start("rtengine-k9")
    assert runtime.state("rtengine-k9").status == "running"
    runtime.kill("rtengine-k9", 9)
    wait_exit(fd)
    assert runtime.state("rtengine-k9").exit_code == 128 + 9
    with pytest.raises(Conflict, match="rtengine-k9"):
        runtime.kill("rtengine-k9", 15)


def test_a_megabyte_request_runs_and_one_over_4_mib_is_refused(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # ~1 MB of environment: more than a socket's default send buffer (~200 KB) holds.
    env = [*base_spec["process"]["env"], *(f"V{i}={'x' * 120_000}" for i in range(8))]
    log = create(runtime, base_spec, "rtengine-1mb", ["sh", "-c", "echo ${#V0} ${#V7}"], env=env)
    fd = runtime.exit_fd("rtengine-1mb")
    runtime.start("rtengine-1mb")
    wait_exit(fd)
    assert runtime.state("rtengine-1mb").exit_code == 0
    assert [e["log"] for e in log_entries(log)] == ["120000 120000\n"]
    runtime.delete("rtengine-1mb")
    env = [*base_spec["process"]["env"], *(f"V{i}={'x' * 120_000}" for i in range(40))]
    with pytest.raises(InvalidArgument, match=r"rtengine-5mb: .* over the 4 MiB limit"):
        create(runtime, base_spec, "rtengine-5mb", ["true"], env=env)
    _assert_nothing_left(runtime, "rtengine-5mb")


def test_an_environment_too_big_to_exec_fails_the_start_saying_so(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # One string over the kernel's 128 KiB: execve fails with E2BIG, at the start (runc
    # exits 1, wharf 126, as for any exec error but "not found").
    env = [*base_spec["process"]["env"], "V=" + "x" * 200_000]
    log = create(runtime, base_spec, "rtengine-e2big", ["true"], env=env)
    fd = runtime.exit_fd("rtengine-e2big")
    runtime.start("rtengine-e2big")
    wait_exit(fd)
    assert runtime.state("rtengine-e2big").exit_code != 0
    [entry] = log_entries(log)
    assert "argument list too long" in entry["log"].lower()


def test_missing_and_non_executable_args0_fail_create_and_leave_nothing(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    with pytest.raises(NotFound, match="nope"):
        create(runtime, base_spec, "rtengine-127", ["nope"])
    with pytest.raises(PermissionDenied, match="notexec"):
        create(runtime, base_spec, "rtengine-126", ["/bin/notexec"])
    assert runtime.list() == []
    for cid in ("rtengine-127", "rtengine-126"):
        assert not os.path.exists(os.path.join(runtime.state_root, cid))
        assert not any(os.path.exists(f"{d}/{cid}") for d in cgroup_dirs())


def _assert_nothing_left(runtime: MonitoredRuntime, cid: str) -> None:
    assert runtime.list() == []
    assert not os.path.exists(os.path.join(runtime.state_root, cid))
    assert not any(os.path.exists(f"{d}/{cid}") for d in cgroup_dirs())
    assert runtime.state_root not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize(
    ("change", "kind", "names"),
    [
        (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), InvalidArgument, "bogus"),
        (lambda s: s["process"].update(args=[]), InvalidArgument, "process.args"),
        (lambda s: s["root"].update(path="/nonexistent-rtengine"), NotFound, "root"),
        (
            lambda s: s["linux"].update(resources={"pids": {"limit": "many"}}),
            InvalidArgument,
            "pids",
        ),
        (
            lambda s: s["linux"].update(resources={"cpu": {"shares": 1, "quota": 1}}),
            InvalidArgument,
            "cpu",
        ),
        (
            lambda s: s["mounts"].append(
                {"destination": "/x", "type": "bind", "source": "/nonexistent-rtengine"}
            ),
            NotFound,
            "nonexistent-rtengine",
        ),
    ],
    ids=["namespace", "args", "rootfs", "pids", "cpu-quota", "bind-source"],
)
def test_bad_specs_are_refused_by_field_and_leave_nothing(
    runtime: MonitoredRuntime,
    base_spec: dict[str, Any],
    change: Any,
    kind: type[Exception],
    names: str,
) -> None:
    cid = "rtengine-bad"
    spec = make_spec(base_spec, cid, ["true"])
    change(spec)
    with pytest.raises(kind, match=names):
        runtime.create(
            cid, bundle_dir=bundle_for(runtime, cid), spec=spec, rootfs=[], io=ContainerIO()
        )
    _assert_nothing_left(runtime, cid)


def test_wrong_uses_get_the_right_kinds(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    with pytest.raises(NotFound, match="rtengine-none"):
        runtime.state("rtengine-none")
    with pytest.raises(InvalidArgument, match="container id"):
        runtime.state("../etc")
    cid = "rtengine-dup"
    create(runtime, base_spec, cid, ["sleep", "100"])
    with pytest.raises(AlreadyExists, match=cid):
        create(runtime, base_spec, cid, ["true"])
    runtime.start(cid)
    with pytest.raises(Conflict, match="running"):
        runtime.delete(cid)
    with pytest.raises(FailedPrecondition, match="terminal"):
        runtime.resize(cid, 10, 10)
    with pytest.raises(InvalidArgument, match="signal"):
        runtime.kill(cid, 0)
    fd = runtime.exit_fd(cid)
    runtime.kill(cid, 9)
    wait_exit(fd)
    with pytest.raises(Conflict, match="exec"):
        runtime.exec(cid, "e1", process={"args": ["true"], "cwd": "/"}, io=ContainerIO())
    runtime.delete(cid)
    _assert_nothing_left(runtime, cid)


def test_overlay_rootfs_from_a_mount_list(
    runtime: MonitoredRuntime, base_spec: dict[str, Any], rootfs: str
) -> None:
    layers = tempfile.mkdtemp(prefix="rtengine-ovl-")
    try:
        upper, work = f"{layers}/upper", f"{layers}/work"
        os.mkdir(upper)
        os.mkdir(work)
        mount = Mount(
            "overlay", "overlay", (f"lowerdir={rootfs}", f"upperdir={upper}", f"workdir={work}")
        )
        log = create(
            runtime,
            base_spec,
            "rtengine-ovl",
            ["sh", "-c", "echo written > /hello; grep -c ' / overlay' /proc/mounts"],
            rootfs=[mount],
        )
        fd = runtime.exit_fd("rtengine-ovl")
        runtime.start("rtengine-ovl")
        wait_exit(fd)
        assert [e["log"] for e in log_entries(log)] == ["1\n"]
        assert Path(upper, "hello").read_text() == "written\n"
        assert not Path(rootfs, "hello").exists()
        runtime.delete("rtengine-ovl")
        assert layers not in Path("/proc/self/mountinfo").read_text()
    finally:
        shutil.rmtree(layers)


def read_frames(sock: socket.socket) -> dict[int, bytes]:
    data = b""
    sock.settimeout(WAIT)
    while chunk := sock.recv(65536):
        data += chunk
    out: dict[int, bytes] = {1: b"", 2: b""}
    while data:
        stream, size = struct.unpack(">BxxxI", data[:8])
        out[stream] += data[8 : 8 + size]
        data = data[8 + size :]
    return out


def test_attach_streams_stdcopy_frames_and_feeds_stdin(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-attach"
    log = create(
        runtime,
        base_spec,
        cid,
        ["sh", "-c", "read line; echo got $line; echo problem >&2; cat; echo done"],
        io=ContainerIO(
            stdin=True, stdin_once=True, log_path=os.path.join(runtime.state_root, "a.log")
        ),
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(runtime.attach_path(cid))
        fd = runtime.exit_fd(cid)
        runtime.start(cid)
        sock.sendall(b"hello\nmore input\n")
        sock.shutdown(socket.SHUT_WR)  # stdin_once: closes the container's stdin -> cat ends
        frames = read_frames(sock)
    wait_exit(fd)
    assert frames[1] == b"got hello\nmore input\ndone\n"
    assert frames[2] == b"problem\n"
    assert runtime.state(cid).exit_code == 0
    assert os.path.exists(os.path.join(runtime.state_root, "a.log"))
    del log


def test_clients_attached_before_start_get_all_output(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    # docker run attaches, then starts: a quick process's output must reach every client
    # connected before the start, however the monitor's wake-ups fall
    for n in range(20):
        cid = f"rtengine-early{n}"
        create(runtime, base_spec, cid, ["echo", "shared"])
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as one,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as two,
        ):
            one.connect(runtime.attach_path(cid))
            two.connect(runtime.attach_path(cid))
            fd = runtime.exit_fd(cid)
            runtime.start(cid)
            got = [read_frames(one), read_frames(two)]
        wait_exit(fd)
        assert got == [{1: b"shared\n", 2: b""}] * 2, f"round {n}"
        runtime.delete(cid)


def read_until(sock: socket.socket, needle: bytes, seen: bytearray) -> None:
    sock.settimeout(WAIT)
    while needle not in seen:
        chunk = sock.recv(4096)
        assert chunk, f"stream ended before {needle!r}: {bytes(seen)!r}"
        seen += chunk


def test_tty_attach_is_raw_and_resize_changes_stty_size(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-tty"
    create(
        runtime,
        base_spec,
        cid,
        ["sh", "-c", "stty size; read x; stty size; tty"],
        io=ContainerIO(terminal=True, stdin=True, console_size=(24, 80)),
    )
    seen = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(runtime.attach_path(cid))
        fd = runtime.exit_fd(cid)
        runtime.start(cid)
        read_until(sock, b"24 80", seen)
        runtime.resize(cid, 40, 100)
        sock.sendall(b"\n")
        read_until(sock, b"40 100", seen)
        read_until(sock, b"/dev/", seen)
    wait_exit(fd)
    assert not seen.startswith(b"\x01\x00\x00\x00")  # raw bytes, no stdcopy header
    assert runtime.state(cid).exit_code == 0


def test_memory_hog_is_oom_killed_and_reported(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-oom"
    spec = make_spec(base_spec, cid, ["sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"])
    spec["linux"]["resources"] = {"memory": {"limit": 32 << 20}}
    runtime.create(cid, bundle_dir=bundle_for(runtime, cid), spec=spec, rootfs=[], io=ContainerIO())
    fd = runtime.exit_fd(cid)
    runtime.start(cid)
    wait_exit(fd)
    state = runtime.state(cid)
    assert (state.oom_killed, state.exit_code) == (True, 137)


def test_crun_through_the_same_interface(
    crun_runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    """crun refuses this hybrid-cgroup host unless wrapped (runc.py does it)."""
    rt = crun_runtime
    log = run(rt, base_spec, "rtengine-crun", ["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert sorted((e["stream"], e["log"]) for e in log_entries(log)) == [
        ("stderr", "err\n"),
        ("stdout", "out\n"),
    ]
    assert rt.state("rtengine-crun").exit_code == 4
    create(
        rt,
        base_spec,
        "rtengine-crun-tty",
        ["sh", "-c", "stty size"],
        io=ContainerIO(terminal=True, console_size=(33, 77)),
    )
    seen = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(rt.attach_path("rtengine-crun-tty"))
        fd = rt.exit_fd("rtengine-crun-tty")
        rt.start("rtengine-crun-tty")
        read_until(sock, b"33 77", seen)
    wait_exit(fd)


def test_pause_and_resume(runtime: MonitoredRuntime, base_spec: dict[str, Any]) -> None:
    cid = "rtengine-pause"
    log = create(
        runtime, base_spec, cid, ["sh", "-c", "while true; do echo tick; sleep 0.02; done"]
    )
    runtime.start(cid)
    runtime.pause(cid)
    assert runtime.state(cid).status == "paused"
    time.sleep(0.1)  # a tick written before the freeze may still be on its way to the log
    size = os.path.getsize(log)
    time.sleep(0.3)
    assert os.path.getsize(log) == size  # frozen: no output
    runtime.resume(cid)
    assert runtime.state(cid).status == "running"
    deadline = time.monotonic() + WAIT
    while os.path.getsize(log) == size and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.getsize(log) > size
    stats = runtime.stats(cid)
    assert stats.pids.current >= 1 and stats.memory.usage > 0 and stats.cpu.total_ns > 0


def test_exec_with_its_own_user_env_cwd_and_exit_code(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-exec"
    create(runtime, base_spec, cid, ["sleep", "100"])
    runtime.start(cid)
    process = {
        "args": ["sh", "-c", "id -u; id -g; echo $FOO; pwd; ls /proc | grep -c '^[0-9]'; exit 5"],
        "env": ["PATH=/bin", "FOO=bar"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001},
    }
    runtime.exec(cid, "e1", process=process, io=ContainerIO(), start=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(runtime.exec_attach_path(cid, "e1"))
        runtime.exec_start(cid, "e1")
        assert runtime.exec_state(cid, "e1").pid > 0
        frames = read_frames(sock)
    wait_exit(runtime.exec_exit_fd(cid, "e1"))
    lines = frames[1].decode().split()
    assert lines[:4] == ["1000", "1001", "bar", "/tmp"]
    assert int(lines[4]) <= 4  # only the container's processes are visible
    done = runtime.exec_state(cid, "e1")
    assert (done.running, done.exit_code) == (False, 5)
    with pytest.raises(NotFound, match="nope"):
        runtime.exec(cid, "e2", process={**process, "args": ["nope"]}, io=ContainerIO())
        runtime.exec_start(cid, "e2")  # runc reports a missing args[0] at start
    assert runtime.state(cid).status == "running"


def test_exec_delete_forgets_an_exited_exec_only(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-execdel"
    create(runtime, base_spec, cid, ["sleep", "100"])
    runtime.start(cid)
    log = os.path.join(runtime.state_root, "execdel.log")
    process = {"args": ["sh", "-c", "echo probed; sleep 0.3"], "cwd": "/", "env": ["PATH=/bin"]}
    runtime.exec(cid, "p1", process=process, io=ContainerIO(log_path=log))
    with pytest.raises(Conflict, match="still running"):
        runtime.exec_delete(cid, "p1")
    wait_exit(runtime.exec_exit_fd(cid, "p1"))
    runtime.exec_delete(cid, "p1")
    with pytest.raises(NotFound):
        runtime.exec_state(cid, "p1")
    assert '"probed\\n"' in Path(log).read_text()  # the log is the caller's to remove
    os.unlink(log)
    runtime.exec(cid, "p1", process=process, io=ContainerIO())  # the id is free again
    assert runtime.state(cid).status == "running"


def test_exec_with_a_terminal_and_resize(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-exectty"
    create(runtime, base_spec, cid, ["sleep", "100"])
    runtime.start(cid)
    process = {
        "args": ["sh", "-c", "stty size; read x; stty size"],
        "cwd": "/",
        "env": ["PATH=/bin"],
    }
    io = ContainerIO(terminal=True, stdin=True, console_size=(20, 60))
    runtime.exec(cid, "t1", process=process, io=io, start=False)
    seen = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(runtime.exec_attach_path(cid, "t1"))
        runtime.exec_start(cid, "t1")
        read_until(sock, b"20 60", seen)
        runtime.exec_resize(cid, "t1", 30, 90)
        sock.sendall(b"\n")
        read_until(sock, b"30 90", seen)
    wait_exit(runtime.exec_exit_fd(cid, "t1"))
    assert runtime.exec_state(cid, "t1").exit_code == 0


def test_a_killed_monitor_is_reported_and_delete_still_cleans_up(
    runtime: MonitoredRuntime, base_spec: dict[str, Any]
) -> None:
    cid = "rtengine-orphan"
    create(runtime, base_spec, cid, ["sleep", "100"])
    runtime.start(cid)
    before = runtime.state(cid)
    os.kill(before.monitor_pid, 9)
    wait_gone(before.monitor_pid)
    after = runtime.state(cid)
    assert (after.status, after.pid, after.monitor_pid) == ("running", before.pid, 0)
    assert "monitor" in after.error
    runtime.delete(cid, force=True)
    _assert_nothing_left(runtime, cid)
    assert process_start_time(before.pid) is None


_SURVIVOR = """
import json, sys, time
sys.path[:0] = {path!r}
from wharf.runtime.engine import ContainerIO, start_zygote, WharfRuntime
from wharf.runtime.runc import OCIBinaryRuntime
zygote = start_zygote()
rt = (
    WharfRuntime({root!r}, zygote=zygote) if {kind!r} == "wharf"
    else OCIBinaryRuntime("runc", {root!r}, zygote=zygote)
)
spec = json.loads({spec!r})
rt.create({cid!r}, bundle_dir={bundle!r}, spec=spec, rootfs=[], io=ContainerIO(log_path={log!r}))
rt.start({cid!r})
print("started", flush=True)
time.sleep(1000)
"""

_ADOPTER = """
import json, os, select, socket, sys
sys.path[:0] = {path!r}
from wharf.runtime.engine import ContainerIO, WharfRuntime
from wharf.runtime.runc import OCIBinaryRuntime
rt = WharfRuntime({root!r}) if {kind!r} == "wharf" else OCIBinaryRuntime("runc", {root!r})
found = [(c.id, c.status) for c in rt.list()]
live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
live.connect(rt.attach_path({cid!r}))
live.settimeout(20)
frame = live.recv(8)
process = {{"args": ["echo", "adopted"], "cwd": "/", "env": ["PATH=/bin"]}}
rt.exec({cid!r}, "e1", process=process, io=ContainerIO(), start=False)
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect(rt.exec_attach_path({cid!r}, "e1"))
    rt.exec_start({cid!r}, "e1")
    s.settimeout(20)
    out = b""
    while chunk := s.recv(4096):
        out += chunk
fd = rt.exit_fd({cid!r})
rt.kill({cid!r}, 9)
assert select.select([fd], [], [], 20)[0]
result = {{"found": found, "exit_code": rt.state({cid!r}).exit_code}}
result["exec"] = out[8:].decode()
result["live_stream"] = frame[0]
print(json.dumps(result))
rt.close()
"""


@pytest.mark.parametrize("kind", ["wharf", "runc"])
def test_containers_and_logs_survive_sigkill_of_the_engine(
    base_spec: dict[str, Any], kind: str
) -> None:
    root = tempfile.mkdtemp(prefix="rtengine-survive-")
    bundle = os.path.join(root, "bundle")
    os.mkdir(bundle)
    cid = "rtengine-survivor"
    log = os.path.join(root, "survivor.log")
    spec = make_spec(
        base_spec, cid, ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.02; done"]
    )
    args = {
        "path": sys.path,
        "root": root,
        "bundle": bundle,
        "cid": cid,
        "log": log,
        "spec": json.dumps(spec),
        "kind": kind,
    }
    engine = subprocess.Popen(
        [sys.executable, "-c", _SURVIVOR.format(**args)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert engine.stdout is not None
        assert engine.stdout.readline() == "started\n"
        engine.kill()
        engine.wait()
        state = json.loads(Path(root, cid, "state.json").read_text())
        assert os.path.exists(f"/proc/{state['pid']}"), "the container died with the engine"
        size = os.path.getsize(log)
        deadline = time.monotonic() + WAIT
        while os.path.getsize(log) == size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(log) > size, "the log stopped growing with the engine gone"
        out = subprocess.run(
            [sys.executable, "-c", _ADOPTER.format(**args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        result = json.loads(out)
        assert result == {
            "found": [[cid, "running"]],
            "exit_code": 137,
            "exec": "adopted\n",
            "live_stream": 1,
        }
        counts = [int(e["log"]) for e in log_entries(log)]
        assert counts == list(range(len(counts)))  # no line lost across the engine's death
        # It tells exit_fd before its own exit: gone soon after (maybe unreaped).
        assert wait_gone(state["monitor_pid"]), "the monitor did not exit"
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        with RuntimeCleanup(kind, root) as rt:
            for c in rt.list():
                rt.delete(c.id, force=True)
        remove_cgroup_parent()
        shutil.rmtree(root, ignore_errors=True)


class RuntimeCleanup:
    """A throwaway runtime (own zygote) to delete what a test's subprocess left."""

    def __init__(self, kind: str, root: str) -> None:
        self.rt = WharfRuntime(root) if kind == "wharf" else OCIBinaryRuntime("runc", root)

    def __enter__(self) -> MonitoredRuntime:
        return self.rt

    def __exit__(self, *exc: object) -> None:
        self.rt.close()


_FORKER = """
import os, sys
sys.path[:0] = {path!r}
from wharf.runtime.zygote import start_zygote
try:
    for _ in range(10):
        start_zygote(pool_size=3).close()  # closed while the zygote still sends its pool
finally:
    with open({marker!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
"""


def test_zygote_and_monitor_forks_never_run_the_callers_code(tmp_path: Path) -> None:
    """A fork that unwinds into its parent's stack would run the parent's cleanups (here
    the finally block; in the daemon, anything): only the caller may write the marker."""
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORKER.format(path=sys.path, marker=str(marker))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.wait(timeout=120) == 0
    deadline = time.monotonic() + 2  # a stray fork would write within moments
    while time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.read_text().split() == [str(proc.pid)]
