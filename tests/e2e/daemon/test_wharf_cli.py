"""The same user flows with the ``wharf`` CLI against a private daemon."""

from __future__ import annotations

import time

from tests.e2e.daemon.harness import WHARF, Daemon, run_in_pty


def out(result) -> str:
    return result.stdout.decode()


def test_run_rm_and_exit_codes(daemon: Daemon) -> None:
    result = daemon.wharf("run", "--rm", "busybox", "echo", "hello")
    assert (result.returncode, out(result)) == (0, "hello\n")
    assert daemon.wharf("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    missing = daemon.wharf("run", "--rm", "busybox", "no-such-cmd")
    assert missing.returncode == 127
    assert b"executable file not found" in missing.stderr
    assert daemon.wharf("run", "--rm", "busybox", "/etc/passwd").returncode == 126
    assert daemon.wharf("run", "--rm", "nope:1", "true").returncode == 125
    assert out(daemon.wharf("ps", "-aq")) == ""


def test_detached_ps_logs_exec_stop_rm(daemon: Daemon) -> None:
    cid = out(
        daemon.wharf(
            "run",
            "-d",
            "--name",
            "w1",
            "-e",
            "X=42",
            "busybox",
            "sh",
            "-c",
            "echo start-$X; sleep 1000",
        )
    ).strip()
    assert len(cid) == 64
    time.sleep(0.3)
    table = out(daemon.wharf("ps")).splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert cid[:12] in table[1] and "w1" in table[1] and "Up " in table[1]
    assert out(daemon.wharf("logs", "w1")) == "start-42\n"
    assert out(daemon.wharf("exec", "w1", "sh", "-c", "echo $X")) == "42\n"
    assert daemon.wharf("exec", "w1", "sh", "-c", "exit 6").returncode == 6
    output, code = run_in_pty(
        [*WHARF, "exec", "-it", "w1", "sh"], b"echo tty-$((3+4)); exit 2\n", daemon.env
    )
    assert code == 2 and b"tty-7" in output
    assert "sleep 1000" in out(daemon.wharf("top", "w1"))
    assert out(daemon.wharf("stop", "-t", "0", "w1")) == "w1\n"
    assert "Exited (137)" in out(daemon.wharf("ps", "-a"))
    assert out(daemon.wharf("inspect", "-f", "{{.State.ExitCode}}", "w1")) == "137\n"
    assert daemon.wharf("rm", "w1").returncode == 0
    gone = daemon.wharf("rm", "w1")
    assert gone.returncode == 1 and b"No such container: w1" in gone.stderr


def test_run_interactive_tty(daemon: Daemon) -> None:
    output, code = run_in_pty(
        [*WHARF, "run", "-it", "--rm", "busybox", "sh"],
        b"stty size; echo in-$((5*5)); exit 9\n",
        daemon.env,
    )
    assert code == 9
    assert b"in-25" in output and b"40 120" in output


def test_images_save_load_commit(daemon: Daemon, tmp_path) -> None:
    table = out(daemon.wharf("images")).splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("busybox ") for line in table[1:])
    daemon.wharf("run", "--name", "c1", "busybox", "sh", "-c", "echo x > /f")
    assert "A /f" in out(daemon.wharf("diff", "c1"))
    assert daemon.wharf("commit", "c1", "mine:1").returncode == 0
    archive = tmp_path / "mine.tar"
    assert daemon.wharf("save", "-o", str(archive), "mine:1").returncode == 0
    daemon.wharf("rm", "c1")
    assert daemon.wharf("rmi", "mine:1").returncode == 0
    assert "Loaded image: mine:1" in out(daemon.wharf("load", "-i", str(archive)))
    assert out(daemon.wharf("run", "--rm", "mine:1", "cat", "/f")) == "x\n"
    daemon.wharf("rmi", "mine:1")


def test_cp_and_events_and_df(daemon: Daemon, tmp_path) -> None:
    daemon.wharf("run", "-d", "--name", "cpw", "busybox", "sleep", "1000")
    src = tmp_path / "in.txt"
    src.write_text("hello cp\n")
    assert daemon.wharf("cp", str(src), "cpw:/tmp/").returncode == 0
    assert out(daemon.wharf("exec", "cpw", "cat", "/tmp/in.txt")) == "hello cp\n"
    result = daemon.wharf("cp", "cpw:/etc/group", str(tmp_path / "group"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "group").read_text().startswith("root:")
    since = str(time.time() - 60)
    until = str(time.time() + 0.5)
    events = out(
        daemon.wharf("events", "--since", since, "--until", until, "--filter", "container=cpw")
    )
    assert " container create " in events and " container start " in events
    assert "Images" in out(daemon.wharf("system", "df"))
    daemon.wharf("rm", "-f", "cpw")


def test_unreachable_daemon_is_exit_125(daemon: Daemon) -> None:
    result = daemon.wharf("-H", "unix:///tmp/api-nowhere.sock", "run", "--rm", "busybox", "true")
    assert result.returncode == 125
    assert b"Cannot connect to the Wharf daemon" in result.stderr
