"""The evaluator over a fake backend: stages, config changes, ARG scoping, cache, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import pytest

from wharf.build import BuildFailed, BuildOptions, CopyStep, Emit, RunFailed, RunStep, build
from wharf.errors import InvalidArgument, NotFound
from wharf.oci.digest import Digest
from wharf.oci.image import ContainerConfig, ImageConfig

BASE = "sha256:" + "b" * 64


class FakeBackend:
    def __init__(self) -> None:
        base = ImageConfig(
            architecture="amd64",
            os="linux",
            diff_ids=(),
            config=ContainerConfig(env=("PATH=/bin",), cmd=("sh",)),
        )
        self.images: dict[str, ImageConfig] = {BASE: base}
        self.refs = {"busybox": BASE}
        self.runs: list[RunStep] = []
        self.copies: list[CopyStep] = []
        self.cache: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.fail_with = 0
        self.reused: list[tuple[str, int]] = []

    def _add(self, config: ImageConfig) -> str:
        if config.history and not config.history[-1].empty_layer:
            layer = Digest.from_bytes(repr(config.history).encode())
            config = dataclasses.replace(config, diff_ids=(*config.diff_ids, layer))
        image_id = "sha256:" + hashlib.sha256(repr((config, len(self.images))).encode()).hexdigest()
        self.images[image_id] = config
        return image_id

    def get_image(self, ref: str) -> tuple[str, ImageConfig]:
        image_id = self.refs.get(ref, ref)
        if image_id not in self.images:
            raise NotFound(f"No such image: {ref}")
        return image_id, self.images[image_id]

    async def run(self, step: RunStep, emit: Emit) -> str:
        self.runs.append(step)
        emit(" ---> Running in fake\n")
        if self.fail_with:
            raise RunFailed("The command returned a non-zero code", self.fail_with)
        return self._add(step.config)

    async def copy(self, step: CopyStep) -> str:
        self.copies.append(step)
        return self._add(step.config)

    async def commit_config(self, base: str | None, config: ImageConfig) -> str:
        return self._add(config)

    async def reuse_layer(
        self, base: str | None, config: ImageConfig, source: str, index: int
    ) -> str:
        self.reused.append((source, index))
        layers = (
            *(self.images[base].diff_ids if base else ()),
            self.images[source].diff_ids[index],
        )
        image_id = "sha256:" + hashlib.sha256(repr((source, index, config)).encode()).hexdigest()
        self.images[image_id] = dataclasses.replace(config, diff_ids=layers)
        return image_id

    def is_dir(self, image_id: str, path: str) -> bool:
        return path.endswith("/")

    def cache_get(self, key: str) -> str | None:
        return self.cache.get(key)

    def cache_put(self, key: str, image_id: str) -> None:
        self.cache[key] = image_id

    def tag(self, image_id: str, ref: str) -> None:
        self.tags[ref] = image_id


def _build(backend: FakeBackend, context: Path, text: str, **options: object) -> tuple[str, str]:
    out: list[str] = []
    image_id = asyncio.run(
        build(text, context, BuildOptions(**options), backend, out.append)  # type: ignore[arg-type]
    )
    return image_id, "".join(out)


def test_config_instructions_end_up_in_the_image_config(tmp_path: Path) -> None:
    backend = FakeBackend()
    image_id, out = _build(
        backend,
        tmp_path,
        "FROM busybox\n"
        'ENV A=1 B="two words"\n'
        "ENV C=${A}x\n"
        "LABEL k=v\n"
        "WORKDIR /app\n"
        "WORKDIR sub\n"
        "USER nobody:nogroup\n"
        "EXPOSE 80 53/udp\n"
        "VOLUME /data\n"
        "STOPSIGNAL SIGINT\n"
        'ENTRYPOINT ["/bin/app"]\n'
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
        "ONBUILD RUN echo hi\n",
        tags=("x:1",),
        labels={"extra": "yes"},
    )
    config = backend.images[image_id].config
    assert config.env == ("PATH=/bin", "A=1", "B=two words", "C=1x")
    assert dict(config.labels) == {"k": "v", "extra": "yes"}
    assert config.working_dir == "/app/sub"
    assert config.user == "nobody:nogroup"
    assert config.exposed_ports == ("53/udp", "80/tcp")
    assert config.volumes == ("/data",)
    assert config.stop_signal == "SIGINT"
    assert config.entrypoint == ("/bin/app",)
    assert config.cmd is None  # ENTRYPOINT resets an inherited CMD
    assert config.healthcheck is not None
    assert config.healthcheck.interval == 5 * 10**9
    assert config.on_build == ("RUN echo hi",)
    assert backend.tags == {"x:1": image_id}
    assert "Step 1/13 : FROM busybox" in out
    assert [c.dest for c in backend.copies] == ["/app/", "/app/sub/"]
    history = backend.images[image_id].history
    assert history[0].created_by == "/bin/sh -c #(nop)  ENV A=1 B=two words"
    assert history[0].empty_layer
    assert not history[3].empty_layer  # WORKDIR makes its directory in a layer


def test_cache_hits_and_a_miss_after_an_edit(tmp_path: Path) -> None:
    backend = FakeBackend()
    (tmp_path / "f").write_text("one")
    text = "FROM busybox\nCOPY f /f\nRUN cat /f\n"
    first, _ = _build(backend, tmp_path, text)
    second, out = _build(backend, tmp_path, text)
    assert first == second
    assert out.count("Using cache") == 2
    (tmp_path / "f").write_text("two")
    third, out = _build(backend, tmp_path, text)
    assert third != first
    assert "Using cache" not in out
    _, out = _build(backend, tmp_path, text, no_cache=True)
    assert "Using cache" not in out
    assert len(backend.runs) == 3


def test_arg_scoping_across_stages(tmp_path: Path) -> None:
    backend = FakeBackend()
    _build(
        backend,
        tmp_path,
        "ARG BASE=busybox\nARG V=meta\n"
        "FROM $BASE AS one\nRUN echo one:$V\n"
        "FROM ${BASE}\nARG V\nARG W=dflt\nRUN echo two:$V:$W\n",
        build_args={"W": "given"},
    )
    first, second = backend.runs
    assert not any(e.startswith("V=") for e in first.env)
    assert "V=meta" in second.env
    assert "W=given" in second.env
    assert second.config.history[-1].created_by.startswith("|2 V=meta W=given /bin/sh -c")


def test_unused_build_args_warn(tmp_path: Path) -> None:
    _, out = _build(FakeBackend(), tmp_path, "FROM busybox\n", build_args={"NOPE": "1"})
    assert "[Warning] One or more build-args [NOPE] were not consumed" in out


def test_multi_stage_copy_from_and_target(tmp_path: Path) -> None:
    backend = FakeBackend()
    text = (
        "FROM busybox AS build\nRUN touch /out\n"
        "FROM scratch AS final\nCOPY --from=build /out /out\n"
        "FROM busybox AS other\nRUN false\n"
    )
    image_id, out = _build(backend, tmp_path, text, target="final")
    assert backend.copies[-1].source_image is not None
    assert backend.copies[-1].base is None
    assert len(backend.runs) == 1  # the stage after the target is not built
    assert "Step 4/6" in out
    assert image_id in backend.images


def test_onbuild_triggers_run_in_the_child(tmp_path: Path) -> None:
    backend = FakeBackend()
    parent, _ = _build(backend, tmp_path, "FROM busybox\nONBUILD RUN echo child\n")
    backend.refs["parent"] = parent
    child, out = _build(backend, tmp_path, "FROM parent\nENV X=1\n")
    assert "# Executing 1 build trigger" in out
    assert backend.runs[-1].argv == ("/bin/sh", "-c", "echo child")
    assert backend.images[child].config.on_build == ()


def test_shell_and_heredoc_run_forms(tmp_path: Path) -> None:
    backend = FakeBackend()
    _build(
        backend,
        tmp_path,
        'FROM busybox\nSHELL ["/bin/ash", "-eo"]\nRUN echo a\nRUN ["echo", "b"]\n'
        "RUN <<EOF\necho c\nEOF\nRUN cat <<EOF > /f\nx\nEOF\n",
    )
    assert [r.argv for r in backend.runs] == [
        ("/bin/ash", "-eo", "echo a"),
        ("echo", "b"),
        ("/bin/ash", "-eo", "echo c\n"),
        ("/bin/ash", "-eo", "cat <<EOF > /f\nx\nEOF\n"),
    ]


def test_failing_run_tags_nothing(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.fail_with = 3
    with pytest.raises(RunFailed) as info:
        _build(backend, tmp_path, "FROM busybox\nRUN exit 3\n", tags=("x:1",))
    assert info.value.code == 3
    assert backend.tags == {}


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("FROM nope\n", NotFound, "line 1: FROM nope: No such image"),
        ("FROM busybox\nCOPY --from=nope /a /b\n", NotFound, "line 2: COPY --from=nope"),
        ("FROM busybox\nCOPY ../outside /x\n", InvalidArgument, "Forbidden path outside"),
        ("FROM busybox\nCOPY missing /x\n", NotFound, "line 2"),
        ("FROM busybox\nCOPY a b /x\n", InvalidArgument, "must be a directory"),
        ("RUN true\n", InvalidArgument, "line 1"),
        ("FROM busybox\nENV A='unterminated\n", InvalidArgument, "line 2"),
        ("FROM busybox\nEXPOSE abc\n", InvalidArgument, "line 2: EXPOSE abc"),
        ("FROM busybox\nONBUILD FROM x\n", InvalidArgument, "isn't allowed"),
        ("FROM busybox\nCOPY --chmod=999 a /x\n", InvalidArgument, "expected an octal mode"),
        ("", BuildFailed, "cannot be empty"),
        ("FROM --platform=linux/arm64 busybox\n", InvalidArgument, "only linux/amd64"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, text: str, kind: type[Exception], message: str
) -> None:
    (tmp_path / "a").write_text("a")
    backend = FakeBackend()
    with pytest.raises(kind, match=message.replace("(", r"\(")):
        _build(backend, tmp_path, text, tags=("x:1",))
    assert backend.tags == {}


def test_missing_target_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="failed to reach build target nope"):
        _build(FakeBackend(), tmp_path, "FROM busybox AS a\n", target="nope")


def test_copy_step_options(tmp_path: Path) -> None:
    backend = FakeBackend()
    (tmp_path / "a").write_text("a")
    _build(
        backend,
        tmp_path,
        "FROM busybox\nWORKDIR /w\nCOPY --chown=1:2 --chmod=0600 a rel\n"
        "COPY <<EOF /doc\n$HOME\nEOF\n",
    )
    copy = backend.copies[1]
    assert (copy.dest, copy.chown, copy.chmod, copy.sources) == ("/w/rel", "1:2", 0o600, ("a",))
    heredoc = backend.copies[2]
    assert heredoc.files == (("EOF", b"\n"),)
    assert dataclasses.asdict(heredoc)["sources"] == ()


def test_cache_from_reuses_layers_of_a_matching_image(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    text = "FROM busybox\nENV A=1\nCOPY f /f\nRUN true\n"
    first = FakeBackend()
    source, _ = _build(first, tmp_path, text)
    second = FakeBackend()  # no build cache; the source image is all it knows
    second.images[source] = first.images[source]
    second.refs["src"] = source
    image_id, out = _build(second, tmp_path, text, cache_from=("src",))
    assert out.count("Using cache") == 3
    assert second.runs == [] and second.copies == []
    assert second.reused == [(source, 0), (source, 1)]  # busybox here has no layers
    assert second.images[image_id].diff_ids == first.images[source].diff_ids
    (tmp_path / "f").write_text("changed")
    _, out = _build(second, tmp_path, text, cache_from=("src",), no_cache=False)
    assert len(second.copies) == 1 and len(second.runs) == 1
