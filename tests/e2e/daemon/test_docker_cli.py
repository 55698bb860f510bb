"""The real docker CLI (v28) against a private wharf daemon."""

from __future__ import annotations

import json
import tarfile
import time

from tests.e2e.daemon.harness import DOCKER, Daemon, run_in_pty


def out(result) -> str:
    return result.stdout.decode()


def test_run_rm_output_and_exit_codes(daemon: Daemon) -> None:
    result = daemon.docker("run", "--rm", "busybox", "echo", "hello")
    assert (result.returncode, out(result)) == (0, "hello\n")
    result = daemon.docker("run", "--rm", "busybox", "sh", "-c", "echo o; echo e >&2; exit 3")
    assert result.returncode == 3
    assert out(result) == "o\n"
    assert result.stderr.decode() == "e\n"
    result = daemon.docker("run", "--rm", "busybox", "no-such-cmd")
    assert result.returncode == 127
    assert b"executable file not found" in result.stderr
    result = daemon.docker("run", "--rm", "busybox", "/etc/passwd")
    assert result.returncode == 126
    assert out(daemon.docker("ps", "-aq")) == ""  # --rm removed all of them


def test_run_with_env_workdir_user_and_limits(daemon: Daemon) -> None:
    result = daemon.docker(
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "65534:65534",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--hostname",
        "boxy",
        "busybox",
        "sh",
        "-c",
        'echo "$FOO $(pwd) $(id -u) $(hostname)"',
    )
    assert out(result) == "bar /tmp 65534 boxy\n", result.stderr


def test_detached_lifecycle(daemon: Daemon) -> None:
    cid = out(
        daemon.docker(
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done",
        )
    ).strip()
    assert len(cid) == 64
    time.sleep(0.5)
    ps = out(daemon.docker("ps"))
    assert "web" in ps and "Up " in ps
    inspect = json.loads(out(daemon.docker("inspect", "web")))[0]
    assert inspect["Id"] == cid and inspect["Name"] == "/web"
    assert inspect["State"]["Running"] is True and inspect["State"]["Pid"] > 0
    logs = out(daemon.docker("logs", "--tail", "2", "web")).splitlines()
    assert len(logs) == 2 and all(line.startswith("line") for line in logs)
    top = out(daemon.docker("top", "web"))
    assert "PID" in top and "sh -c" in top
    assert daemon.docker("pause", "web").returncode == 0
    assert "Paused" in out(daemon.docker("ps"))
    assert daemon.docker("unpause", "web").returncode == 0
    assert daemon.docker("restart", "-t", "1", "web").returncode == 0
    assert json.loads(out(daemon.docker("inspect", "web")))[0]["State"]["Running"]
    assert daemon.docker("stop", "-t", "1", "web").returncode == 0
    state = json.loads(out(daemon.docker("inspect", "web")))[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert "Exited (137)" in out(daemon.docker("ps", "-a"))
    assert daemon.docker("start", "web").returncode == 0
    assert daemon.docker("kill", "web").returncode == 0
    wait = daemon.docker("wait", "web")
    assert out(wait).strip() == "137"
    assert daemon.docker("rm", "web").returncode == 0
    missing = daemon.docker("rm", "web")
    assert missing.returncode == 1
    assert b"No such container: web" in missing.stderr


def test_force_remove_of_an_auto_remove_container(daemon: Daemon) -> None:
    # rm -f kills the container, whose exit starts AutoRemove: both removals must end in one
    # clean removal, with no error and the name free again.
    for _ in range(3):
        assert daemon.docker("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "60")
        removed = daemon.docker("rm", "-f", "gone")
        assert removed.returncode == 0 and removed.stderr == b"", removed.stderr
        assert "gone" not in out(daemon.docker("ps", "-a"))


def test_logs_follow_ends_when_container_exits(daemon: Daemon) -> None:
    daemon.docker(
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    )
    result = daemon.docker("logs", "-f", "short", timeout=30)
    assert out(result) == "1\n2\n3\n"
    daemon.docker("rm", "short")


def test_exec_tty_and_plain(daemon: Daemon) -> None:
    daemon.docker("run", "-d", "--name", "ex", "busybox", "sleep", "1000")
    assert out(daemon.docker("exec", "ex", "echo", "in-exec")) == "in-exec\n"
    assert daemon.docker("exec", "ex", "sh", "-c", "exit 5").returncode == 5
    assert daemon.docker("exec", "ex", "nope").returncode == 127
    assert out(daemon.docker("exec", "-i", "ex", "cat", input=b"typed\n")) == "typed\n"
    output, code = run_in_pty(
        [DOCKER, "exec", "-it", "ex", "sh"], b"stty size; echo tty-$((1+1)); exit 7\n", daemon.env
    )
    assert code == 7
    assert b"40 120" in output and b"tty-2" in output
    daemon.docker("rm", "-f", "ex")


def test_run_interactive_tty(daemon: Daemon) -> None:
    output, code = run_in_pty(
        [DOCKER, "run", "-it", "--rm", "busybox", "sh"], b"echo hi-$((2+2)); exit 4\n", daemon.env
    )
    assert code == 4
    assert b"hi-4" in output


def test_cp_both_ways(daemon: Daemon, tmp_path) -> None:
    daemon.docker("run", "-d", "--name", "cp", "busybox", "sleep", "1000")
    src = tmp_path / "hello.txt"
    src.write_text("from host\n")
    assert daemon.docker("cp", str(src), "cp:/tmp/").returncode == 0
    assert out(daemon.docker("exec", "cp", "cat", "/tmp/hello.txt")) == "from host\n"
    dest = tmp_path / "passwd"
    result = daemon.docker("cp", "cp:/etc/passwd", str(dest))
    assert result.returncode == 0, result.stderr
    assert dest.read_text().startswith("root:")
    missing = daemon.docker("cp", "cp:/nonexistent", str(tmp_path / "x"))
    assert missing.returncode != 0
    daemon.docker("stop", "-t", "0", "cp")
    stopped = daemon.docker("cp", "cp:/tmp/hello.txt", str(tmp_path / "again.txt"))
    assert stopped.returncode == 0, stopped.stderr
    assert (tmp_path / "again.txt").read_text() == "from host\n"
    daemon.docker("rm", "cp")


def test_save_load_commit_tag_rmi(daemon: Daemon, tmp_path) -> None:
    daemon.docker("run", "--name", "mod", "busybox", "sh", "-c", "echo data > /made")
    diff = out(daemon.docker("diff", "mod"))
    # As Docker: the mount points made for hosts/resolv.conf are not the user's changes.
    assert diff.splitlines() == ["A /made"]
    commit = daemon.docker("commit", "mod", "made:1")
    assert commit.returncode == 0, commit.stderr
    assert out(daemon.docker("run", "--rm", "made:1", "cat", "/made")) == "data\n"
    archive = tmp_path / "made.tar"
    assert daemon.docker("save", "-o", str(archive), "made:1").returncode == 0
    daemon.docker("rm", "mod")
    assert daemon.docker("rmi", "made:1").returncode == 0
    assert "made" not in out(daemon.docker("images"))
    loaded = daemon.docker("load", "-i", str(archive))
    assert "Loaded image: made:1" in out(loaded)
    assert daemon.docker("tag", "made:1", "made:2").returncode == 0
    images = out(daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert "made:1" in images and "made:2" in images
    history = out(daemon.docker("history", "made:1"))
    assert "IMAGE" in history
    daemon.docker("rmi", "made:1", "made:2")


def test_export_and_import(daemon: Daemon, tmp_path) -> None:
    daemon.docker("create", "--name", "exp", "busybox")
    tar_path = tmp_path / "rootfs.tar"
    assert daemon.docker("export", "-o", str(tar_path), "exp").returncode == 0
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
    assert any(n.endswith("bin/busybox") for n in names)
    imported = daemon.docker("import", "-c", 'CMD ["echo", "imported"]', str(tar_path), "imp:1")
    assert imported.returncode == 0, imported.stderr
    assert out(daemon.docker("run", "--rm", "imp:1")) == "imported\n"
    daemon.docker("rm", "exp")
    daemon.docker("rmi", "imp:1")


def test_events_since_until(daemon: Daemon) -> None:
    since = str(time.time())
    daemon.docker("run", "--rm", "--name", "evt", "busybox", "true")
    until = str(time.time() + 0.5)
    result = daemon.docker(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=evt",
        "--format",
        "{{.Action}}",
    )
    actions = out(result).split()
    assert actions[:2] == ["create", "attach"] or actions[0] == "create"
    assert "start" in actions and "die" in actions and "destroy" in actions


def test_errors_the_cli_shows(daemon: Daemon) -> None:
    result = daemon.docker("inspect", "nothing-here")
    assert result.returncode == 1
    assert b"No such object: nothing-here" in result.stderr
    daemon.docker("create", "--name", "dup", "busybox")
    again = daemon.docker("run", "--name", "dup", "busybox")
    assert again.returncode == 125
    assert b'"/dup" is already in use' in again.stderr
    bad = daemon.docker("run", "--rm", "--memory", "1k", "busybox", "true")
    assert bad.returncode == 125
    assert b"Memory" in bad.stderr or b"memory" in bad.stderr
    missing_image = daemon.docker("run", "--rm", "nope:1", "true")
    assert missing_image.returncode == 125
    daemon.docker("rm", "dup")


def test_system_df_info_version(daemon: Daemon) -> None:
    assert b"Images" in daemon.docker("system", "df").stdout
    info = daemon.docker("info")
    assert info.returncode == 0, info.stderr
    assert b"Server Version" in info.stdout
    assert b"1.41" in daemon.docker("version").stdout


def test_restart_policies_rename_update(daemon: Daemon) -> None:
    daemon.docker(
        "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1"
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        state = json.loads(out(daemon.docker("inspect", "flaky")))[0]
        if state["RestartCount"] == 2 and state["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert state["RestartCount"] == 2 and state["State"]["ExitCode"] == 1
    daemon.docker(
        "run",
        "-d",
        "--name",
        "forever",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 0",
    )
    time.sleep(2)
    assert json.loads(out(daemon.docker("inspect", "forever")))[0]["RestartCount"] >= 2
    assert daemon.docker("stop", "-t", "1", "forever").returncode == 0
    time.sleep(0.5)
    assert json.loads(out(daemon.docker("inspect", "forever")))[0]["State"]["Running"] is False
    assert daemon.docker("rename", "flaky", "steady").returncode == 0
    assert daemon.docker("inspect", "steady").returncode == 0
    daemon.docker("run", "-d", "--name", "limited", "busybox", "sleep", "1000")
    assert (
        daemon.docker("update", "--memory", "64m", "--memory-swap", "128m", "limited").returncode
        == 0
    )
    host = json.loads(out(daemon.docker("inspect", "limited")))[0]["HostConfig"]
    assert host["Memory"] == 64 << 20
    bad = daemon.docker("update", "--cpuset-cpus", "nonsense", "limited")
    assert bad.returncode != 0 and b"CpusetCpus" in bad.stderr
    daemon.docker("rm", "-f", "steady", "forever", "limited")


def test_named_users_from_the_image(daemon: Daemon) -> None:
    result = daemon.docker("run", "--rm", "-u", "nobody", "busybox", "id", "-u")
    assert (result.returncode, out(result)) == (0, "65534\n"), result.stderr
    ghost = daemon.docker("run", "--rm", "-u", "ghost", "busybox", "true")
    assert ghost.returncode == 125
    assert b"unable to find user ghost" in ghost.stderr
    daemon.docker("run", "-d", "--name", "users", "busybox", "sleep", "1000")
    assert out(daemon.docker("exec", "-u", "nobody", "users", "id", "-u")) == "65534\n"
    daemon.docker("rm", "-f", "users")


def test_start_attach_and_attach(daemon: Daemon) -> None:
    daemon.docker("create", "--name", "later", "busybox", "echo", "attached-output")
    result = daemon.docker("start", "-a", "later")
    assert (result.returncode, out(result)) == (0, "attached-output\n"), result.stderr
    daemon.docker("rm", "later")
    daemon.docker(
        "run", "-d", "--name", "talker", "busybox", "sh", "-c", "sleep 1; echo late-line; sleep 0.3"
    )
    attached = daemon.docker("attach", "talker", timeout=30)
    assert out(attached) == "late-line\n"
    daemon.docker("rm", "talker")


def test_stats_no_stream(daemon: Daemon) -> None:
    daemon.docker(
        "run",
        "-d",
        "--name",
        "busy",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    )
    result = daemon.docker(
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
        "busy",
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    name, cpu, _usage, *rest = out(result).split()
    assert name == "busy"
    assert float(cpu.rstrip("%")) > 1.0
    assert "64MiB" in out(result)
    assert rest[-1] == "1"
    daemon.docker("rm", "-f", "busy")
