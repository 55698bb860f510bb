"""``DOCKER_BUILDKIT=0 docker build`` and the docker SDK against Wharf: the corpus builds and
its images run as expected; cache hits and misses; bad input leaves nothing behind."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.e2e.daemon.harness import DOCKER, Daemon

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected").exists())


def docker_build(
    daemon: Daemon, context: Path | None, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, "build", *args, "-" if context is None else str(context)],
        env={**daemon.env, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        timeout=180,
        input=None if input is None else input.decode(),
        check=False,
    )


def build_case(daemon: Daemon, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args: list[str] = []
    buildargs = CORPUS / name / "buildargs"
    if buildargs.exists():
        for line in buildargs.read_text().split():
            args += ["--build-arg", line]
    return docker_build(daemon, CORPUS / name, "-t", f"corpus-{name}", *args, *extra)


@pytest.mark.parametrize("name", CASES)
def test_corpus_image_runs_as_expected(daemon: Daemon, name: str) -> None:
    if name == "onbuild-child":
        parent = build_case(daemon, "onbuild-parent")
        assert parent.returncode == 0, parent.stdout + parent.stderr
    result = build_case(daemon, name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Successfully tagged corpus-{name}:latest" in result.stdout
    run = daemon.docker("run", "--rm", f"corpus-{name}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == (CORPUS / name / "expected").read_text()
    assert daemon.docker("ps", "-aq").stdout.strip() == b""


def test_shell_forms_config(daemon: Daemon) -> None:
    assert build_case(daemon, "shell-forms").returncode == 0
    fmt = "{{json .Config.Labels}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} " + (
        "{{.Config.StopSignal}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}"
    )
    out = daemon.docker("image", "inspect", "-f", fmt, "corpus-shell-forms").stdout.decode()
    assert out.split() == [
        '{"org.example.a":"one","org.example.b":"two"}',
        '{"53/udp":{},"8080/tcp":{}}',
        '{"/data":{}}',
        "SIGTERM",
        '["/bin/sh","-c"]',
        '["cat',
        '/lines"]',
    ]


def test_cache_hit_then_miss_after_editing_a_copied_file(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN echo before > /before\nCOPY data /data\nRUN cat /data > /after\n"
    )
    (tmp_path / "data").write_text("one\n")
    first = docker_build(daemon, tmp_path, "-t", "cachetest")
    assert first.returncode == 0, first.stderr
    assert "Using cache" not in first.stdout
    second = docker_build(daemon, tmp_path, "-t", "cachetest")
    assert second.stdout.count("Using cache") == 3
    assert (
        second.stdout.split("Successfully built ")[1][:12]
        == (first.stdout.split("Successfully built ")[1][:12])
    )
    (tmp_path / "data").write_text("two\n")
    third = docker_build(daemon, tmp_path, "-t", "cachetest")
    assert third.returncode == 0, third.stderr
    assert third.stdout.count("Using cache") == 1  # the RUN before the COPY only
    assert daemon.docker("run", "--rm", "cachetest", "cat", "/after").stdout == b"two\n"
    (tmp_path / "data").write_text("one\n")  # back to the first bytes: the first image again
    back = docker_build(daemon, tmp_path, "-t", "cachetest")
    assert back.stdout.count("Using cache") == 3
    assert (
        back.stdout.split("Successfully built ")[1][:12]
        == (first.stdout.split("Successfully built ")[1][:12])
    )
    assert daemon.docker("run", "--rm", "cachetest", "cat", "/after").stdout == b"one\n"
    nocache = docker_build(daemon, tmp_path, "--no-cache", "-t", "cachetest")
    assert "Using cache" not in nocache.stdout


def test_same_context_bytes_with_other_dockerfiles(daemon: Daemon, tmp_path: Path) -> None:
    # one context sent three times, kept extracted in between: each build reads its own
    # Dockerfile, and a .dockerignore'd file stays out whichever Dockerfile names it
    (tmp_path / "A").write_text('FROM busybox\nCOPY data /data\nCMD ["cat", "/data"]\n')
    (tmp_path / "B").write_text('FROM busybox\nCOPY data /b\nCMD ["cat", "/b"]\n')
    (tmp_path / "C").write_text("FROM busybox\nCOPY secret /s\n")
    (tmp_path / "data").write_text("shared\n")
    (tmp_path / "secret").write_text("no\n")
    (tmp_path / ".dockerignore").write_text("secret\n")
    for name in ("A", "B", "A"):
        built = docker_build(daemon, tmp_path, "-f", str(tmp_path / name), "-t", f"samectx:{name}")
        assert built.returncode == 0, built.stdout + built.stderr
        ran = daemon.docker("run", "--rm", f"samectx:{name}")
        assert (ran.stdout, ran.returncode) == (b"shared\n", 0), ran.stderr
    assert "Using cache" in built.stdout
    ignored = docker_build(daemon, tmp_path, "-f", str(tmp_path / "C"), "-t", "samectx:c")
    assert ignored.returncode == 1
    assert "file not found in build context or excluded by .dockerignore" in ignored.stderr


def test_target_label_file_and_quiet(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "other.Dockerfile").write_text(
        "FROM busybox AS first\nRUN echo first > /f\nFROM busybox\nRUN false\n"
    )
    result = docker_build(
        daemon, tmp_path, "-q", "-f", str(tmp_path / "other.Dockerfile"),
        "--target", "first", "--label", "built.by=test", "-t", "targeted",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("sha256:")
    labels = daemon.docker("image", "inspect", "-f", "{{json .Config.Labels}}", "targeted")
    assert labels.stdout.decode().strip() == '{"built.by":"test"}'


def test_sdk_images_build(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG X\nRUN echo sdk-$X > /sdk\n")
    client = docker.DockerClient(base_url=daemon.host)
    try:
        image, logs = client.images.build(
            path=str(tmp_path), tag="sdkbuilt:1", buildargs={"X": "arg"}, rm=True
        )
        assert "sdkbuilt:1" in image.tags
        assert any("Successfully built" in entry.get("stream", "") for entry in logs)
        out = client.containers.run("sdkbuilt:1", ["cat", "/sdk"], remove=True)
        assert out == b"sdk-arg\n"
        with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 7"):
            client.images.build(
                fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"), tag="no:1", forcerm=True
            )
    finally:
        client.close()


def _build_dirs(daemon: Daemon) -> set[str]:
    return {p.name for p in (daemon.root / "data" / "build").iterdir()} - {"build-cache.json"}


def _images(daemon: Daemon) -> set[str]:
    return set(daemon.docker("images", "-q", "--no-trunc").stdout.decode().split())


@pytest.mark.parametrize(
    ("dockerfile", "message", "code"),
    [
        ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO", 1),
        ("FROM busybox\nRUN <<EOF\necho\n", "line 2: unterminated heredoc", 1),
        ("FROM busybox\nRUN echo 'unterminated\n", "unterminated quoted string", 2),
        ("FROM busybox\nENV A='unterminated\n", "line 2: unterminated quote", 1),
        ("FROM busybox\nCOPY ../outside /x\n", "Forbidden path outside the build context", 1),
        ("FROM busybox\nCOPY /../../etc/passwd /x\n", "file not found in build context", 1),
        ("FROM busybox\nCOPY --from=nostage /a /b\n", "line 2: COPY --from=nostage", 1),
        ("FROM no-such-image\n", "line 1: FROM no-such-image: No such image", 1),
        ("FROM busybox\nRUN echo out; exit 42\n", "returned a non-zero code: 42", 42),
        # port 0: nobody listens there, the connection is refused at once
        (
            "FROM busybox\nADD http://127.0.0.1:0/f /f\n",
            "line 2: ADD failed: failed to GET http://127.0.0.1:0/f",
            1,
        ),
        ("FROM busybox\nCOPY http://127.0.0.1:0/f /f\n", "source can't be a URL for COPY", 1),
        ("FROM busybox\nCOPY *.none /x/\n", "no source files were specified", 1),
        ("FROM busybox\nUSER nosuchuser\nRUN true\n", "unable to find user nosuchuser", 1),
    ],
)
def test_bad_input_is_reported_and_leaves_nothing(
    daemon: Daemon, tmp_path: Path, dockerfile: str, message: str, code: int
) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    before = _images(daemon)
    kept = _build_dirs(daemon)  # contexts successful builds keep for the next same build
    result = docker_build(daemon, tmp_path, "--force-rm", "-t", "badinput:1")
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stdout + result.stderr
    assert daemon.docker("image", "inspect", "badinput:1").returncode != 0
    assert daemon.docker("ps", "-aq").stdout.strip() == b""
    assert _build_dirs(daemon) <= kept
    with open("/proc/self/mountinfo") as f:
        assert not [m for m in f if f" {daemon.root}/data/build/" in m]
    # the steps before the failure may stay as cache (dockerd keeps them too), nothing else
    assert all(daemon.docker("image", "inspect", i).returncode == 0 for i in before)


def test_a_failing_run_keeps_its_container_without_force_rm(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    result = docker_build(daemon, tmp_path)
    assert result.returncode == 3
    ids = daemon.docker("ps", "-aq").stdout.split()
    assert len(ids) == 1  # as dockerd: kept for inspection
    daemon.docker("rm", "-f", *[i.decode() for i in ids])


def _raw_build(daemon: Daemon, body: bytes) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=str(daemon.socket))
    with httpx.Client(transport=transport, base_url="http://d") as client:
        return client.post(
            "/v1.41/build?t=escape:1&version=1",
            content=body,
            headers={"Content-Type": "application/x-tar"},
        )


@pytest.mark.parametrize("name", ["../escape", "/abs/escape"])
def test_context_tar_with_escapes_is_refused(daemon: Daemon, name: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, data in [("Dockerfile", b"FROM busybox\n"), (name, b"x")]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    response = _raw_build(daemon, buf.getvalue())
    assert response.status_code == 400
    assert "escapes the context directory" in response.json()["message"]
    assert not Path("/abs/escape").exists()
    assert not (daemon.root / "data" / "build" / "escape").exists()
    assert daemon.docker("image", "inspect", "escape:1").returncode != 0


def test_context_from_stdin_dockerfile(daemon: Daemon) -> None:
    result = docker_build(
        daemon, None, "-t", "fromstdin", input=b"FROM busybox\nRUN echo stdin > /s\n"
    )
    assert result.returncode == 0, result.stderr
    assert daemon.docker("run", "--rm", "fromstdin", "cat", "/s").stdout == b"stdin\n"


def test_wharf_build_cli(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "data").write_text("cli\n")
    (tmp_path / "Other").write_text("FROM busybox\nARG A\nCOPY data /data\nRUN echo $A >> /data\n")
    args = ["build", "-t", "clibuilt:1", "-f", str(tmp_path / "Other"), "--build-arg", "A=x"]
    result = daemon.wharf(*args, str(tmp_path / "ctx"), timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "[4/4] RUN echo $A >> /data" in out
    assert "Tagged clibuilt:1" in out
    assert daemon.docker("run", "--rm", "clibuilt:1", "cat", "/data").stdout == b"cli\nx\n"
    again = daemon.wharf(*args, str(tmp_path / "ctx"), timeout=120)
    assert again.stdout.decode().count("cached") == 3
    (tmp_path / "Bad").write_text("FROM busybox\nRUN exit 5\n")
    failed = daemon.wharf("build", "--force-rm", "-f", str(tmp_path / "Bad"), str(tmp_path / "ctx"))
    assert failed.returncode == 5
    assert "returned a non-zero code: 5" in failed.stderr.decode()


def test_run_steps_are_isolated_from_the_host(daemon: Daemon, tmp_path: Path) -> None:
    marker = f"build-marker-{tmp_path.name}"
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN echo pid1=$(cat /proc/1/comm) procs=$(ls -d /proc/[0-9]* | wc -l) "
        f"&& echo links=$(ls /sys/class/net) && touch /tmp/{marker} /{marker}\n"
    )
    result = docker_build(daemon, tmp_path, "--no-cache")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("pid1="))
    assert line.startswith("pid1=sh procs=")
    procs = int(line.split("procs=")[1])
    assert procs <= 5  # sh and the pipeline of the substitution; the host has hundreds
    assert "links=eth0 lo\n" in result.stdout  # its own netns on the default bridge
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/{marker}").exists()


def test_an_interrupted_build_removes_its_running_step(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo started && sleep 300\n")
    proc = subprocess.Popen(
        [DOCKER, "build", "--no-cache", "-t", "interrupted", str(tmp_path)],
        env={**daemon.env, "DOCKER_BUILDKIT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == b"started":
                break
        assert len(daemon.docker("ps", "-q").stdout.split()) == 1
        proc.terminate()
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30  # a condition to wait for, not a speed assertion
    while daemon.docker("ps", "-aq").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert daemon.docker("ps", "-aq").stdout.strip() == b""
    assert daemon.docker("image", "inspect", "interrupted").returncode != 0


def test_kept_contexts_are_bounded_and_shared_by_concurrent_builds(
    daemon: Daemon, tmp_path: Path
) -> None:
    # six different contexts one after the other: only the last few stay extracted
    for i in range(6):
        ctx = tmp_path / f"ctx{i}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nCOPY n /n\nLABEL n={i}\n")
        (ctx / "n").write_text(f"{i}\n")
        built = docker_build(daemon, ctx, "-t", f"kept:{i}")
        assert built.returncode == 0, built.stdout + built.stderr
    kept = [p for p in (daemon.root / "data" / "build").glob("c-*") if p.is_dir()]
    assert 1 <= len(kept) <= 4
    # the same bytes built four times at once: all succeed with the same image
    ctx = tmp_path / "ctx5"
    procs = [
        subprocess.Popen(
            [DOCKER, "build", "-q", "-t", f"kept:same{i}", str(ctx)],
            env={**daemon.env, "DOCKER_BUILDKIT": "0"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    assert len({out.strip() for out, _ in outs}) == 1
    assert daemon.docker("run", "--rm", "kept:same3", "cat", "/n").stdout == b"5\n"
    kept = [p for p in (daemon.root / "data" / "build").glob("c-*") if p.is_dir()]
    assert len(kept) <= 4
    for path in kept:  # removed behind the daemon's back: the next build extracts again
        shutil.rmtree(path)
    again = docker_build(daemon, ctx, "--no-cache", "-t", "kept:again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert daemon.docker("run", "--rm", "kept:again", "cat", "/n").stdout == b"5\n"


def test_a_changed_build_arg_used_by_a_step_misses(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG V\nRUN echo $V > /v\n")

    def build(value: str) -> subprocess.CompletedProcess[str]:
        result = docker_build(daemon, tmp_path, "--build-arg", f"V={value}", "-t", "argcache")
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    build("1")
    assert build("1").stdout.count("Using cache") == 2
    changed = build("2")
    assert changed.stdout.count("Using cache") == 1  # the ARG step only, as dockerd
    assert daemon.docker("run", "--rm", "argcache", "cat", "/v").stdout == b"2\n"
    assert build("1").stdout.count("Using cache") == 2
    assert daemon.docker("run", "--rm", "argcache", "cat", "/v").stdout == b"1\n"
