"""The build evaluator: a parsed Dockerfile, a context directory and options in; stages
dispatched instruction by instruction over a :class:`BuildBackend`; the final image out.

The division follows moby's ``builder/dockerfile``: the evaluator keeps the state of each stage
(its image, config, build args and shell), prints Docker's stream (``Step N/M : ...``,
`` ---> id``, ``Using cache``), decides cache keys, and leaves every effect on images and
containers to the backend, so it is unit-tested with a fake backend. Cache key: the parent
image ID, the instruction with its variables expanded, the checksum of copied content, and the
build args the step used.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from wharf.build.context import checksum
from wharf.build.copier import resolve_sources
from wharf.build.dockerfile import Dockerfile, Instruction, Lexer, parse
from wharf.errors import InvalidArgument, WharfError
from wharf.oci.image import ContainerConfig, History, ImageConfig

__all__ = [
    "BuildBackend",
    "BuildFailed",
    "BuildOptions",
    "CopyStep",
    "Download",
    "Emit",
    "Evaluator",
    "RunFailed",
    "RunStep",
    "Stage",
    "build",
]

Emit = Callable[[str], None]

DEFAULT_SHELL = ("/bin/sh", "-c")
# Build args dockerd accepts without an ARG declaration (proxy settings).
BUILTIN_ARGS = frozenset(
    {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    }
)  # fmt: skip


class RunFailed(WharfError):
    """A RUN step's command exited non-zero (``code`` is its exit status)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class BuildFailed(InvalidArgument):
    """The build stopped; ``code`` is the exit code the CLI should return."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BuildOptions:
    """``POST /build`` parameters the evaluator uses."""

    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str = ""
    rm: bool = True
    force_rm: bool = False
    network_mode: str = ""
    cache_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunStep:
    """Run ``argv`` in a container of ``base`` and commit the result with ``config``."""

    base: str | None
    config: ImageConfig
    argv: tuple[str, ...]
    env: tuple[str, ...]
    user: str
    workdir: str
    network_mode: str
    rm: bool
    force_rm: bool


@dataclass(frozen=True)
class Download:
    """A URL an ADD fetched: the local file (named as it lands in a directory), its
    sha256, and whether the URL gave a name (else it needs a destination file name)."""

    url: str
    path: Path
    digest: str
    named: bool = True


@dataclass(frozen=True)
class CopyStep:
    """Copy ``sources`` (relative to the context, or to ``source_image``'s root) to ``dest``
    in a new layer over ``base``, committed with ``config``; ``files`` are heredoc files
    (name, content) written into ``dest``; ``downloads`` are ADD's fetched URLs (never
    extracted)."""

    base: str | None
    config: ImageConfig
    sources: tuple[str, ...]
    dest: str
    context: Path | None
    source_image: str | None = None
    files: tuple[tuple[str, bytes], ...] = ()
    chown: str = ""
    chmod: int | None = None
    is_add: bool = False
    downloads: tuple[Download, ...] = ()


class BuildBackend(Protocol):
    """What the evaluator needs from the engine (moby's ``builder.Backend``)."""

    def get_image(self, ref: str) -> tuple[str, ImageConfig]:
        """The ID and config of a local image. Raises NotFound."""
        ...

    async def run(self, step: RunStep, emit: Emit) -> str:
        """Run the step, emitting ``Running in``/output lines; the new image's ID.
        Raises RunFailed."""
        ...

    async def copy(self, step: CopyStep) -> str:
        """Perform the copy as a new layer; the new image's ID."""
        ...

    async def download(self, url: str, directory: Path) -> Download:
        """Fetch ``url`` into a new file under ``directory`` (named after the URL path or
        the Content-Disposition, mode 0600, mtime from Last-Modified or the epoch).
        Raises Unavailable (unreachable, or an HTTP error status) or InvalidArgument."""
        ...

    async def commit_config(self, base: str | None, config: ImageConfig) -> str:
        """A new image with ``base``'s layers and ``config`` (no new layer); its ID."""
        ...

    def is_dir(self, image_id: str, path: str) -> bool:
        """Whether ``path`` is a directory in the image (symlinks followed inside it)."""
        ...

    async def reuse_layer(
        self, base: str | None, config: ImageConfig, source: str, index: int
    ) -> str:
        """A new image: ``base``'s layers plus layer ``index`` of image ``source``, with
        ``config``; its ID (``--cache-from``)."""
        ...

    def cache_get(self, key: str) -> str | None:
        """The image a previous step with this cache key produced, if it still exists."""
        ...

    def cache_put(self, key: str, image_id: str) -> None:
        """Remember ``image_id`` as the result of the step with ``key``."""
        ...

    def tag(self, image_id: str, ref: str) -> None:
        """Point ``ref`` at ``image_id``."""
        ...


# a rebuild parses the same text again; Dockerfiles are immutable values
_parse = functools.lru_cache(maxsize=32)(parse)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


@dataclass
class Stage:
    """The evaluation state of one stage."""

    name: str
    index: int
    image: str | None
    config: ImageConfig
    args: dict[str, str] = field(default_factory=dict)
    shell: tuple[str, ...] = DEFAULT_SHELL
    cmd_set: bool = False

    @property
    def container(self) -> ContainerConfig:
        return self.config.config

    def env(self) -> dict[str, str]:
        """The image env as a mapping (last wins)."""
        out: dict[str, str] = {}
        for item in self.container.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def expansion_env(self) -> dict[str, str]:
        """What ``$VAR`` sees: build args, then env overriding them."""
        return {**self.args, **self.env()}


class Evaluator:
    """Runs one build. Use :func:`build`."""

    def __init__(
        self,
        dockerfile: Dockerfile,
        context: Path,
        options: BuildOptions,
        backend: BuildBackend,
        emit: Emit,
        *,
        checksums: MutableMapping[tuple[str, ...], str] | None = None,
        scratch: Path | None = None,
    ) -> None:
        self.dockerfile = dockerfile
        self.scratch = scratch
        self.checksums = {} if checksums is None else checksums
        self.context = context
        self.options = options
        self.backend = backend
        self.emit = emit
        self.lexer = Lexer(dockerfile.escape)
        self.stages: list[Stage] = []
        self.meta_args: dict[str, str] = {}
        self.used_args: set[str] = set()
        self.step = 0
        self.total = len(dockerfile.instructions)
        self.cache_ok = not options.no_cache

    # -- helpers --------------------------------------------------------------------------

    def expand(self, stage: Stage | None, text: str, ins: Instruction) -> str:
        env = self.meta_args if stage is None else stage.expansion_env()
        try:
            return self.lexer.process_word(text, env)
        except InvalidArgument as exc:
            raise ins.error(str(exc)) from None

    def expand_words(self, stage: Stage, text: str, ins: Instruction) -> list[str]:
        try:
            return self.lexer.process_words(text, stage.expansion_env())
        except InvalidArgument as exc:
            raise ins.error(str(exc)) from None

    def arg_value(self, name: str, default: str | None) -> str | None:
        if name in self.options.build_args:
            self.used_args.add(name)
            value = self.options.build_args[name]
            return value if value is not None else default
        return default

    def sources_checksum(self, sources: list[str], what: str) -> str:
        """The content checksum of COPY/ADD ``sources`` in the context, resolved as
        :func:`~wharf.build.copier.resolve_sources` does (remembered per context).

        Raises:
            InvalidArgument: a source leaves the context.
            NotFound: a source matches nothing.
        """
        key = tuple(sources)
        found = self.checksums.get(key)
        if found is None:
            paths = resolve_sources(self.context, sources, what=what)
            rel = [p.relative_to(self.context).as_posix() or "." for p in paths]
            found = self.checksums[key] = checksum(self.context, rel)
        return found

    def cache_key(self, stage: Stage, *parts: object) -> str:
        blob = json.dumps([stage.image, *parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def history(self, stage: Stage, created_by: str, *, empty: bool) -> ImageConfig:
        created = _now()
        entry = History(created=created, created_by=created_by, empty_layer=empty)
        return dataclasses.replace(
            stage.config, created=created, history=(*stage.config.history, entry)
        )

    async def cached(
        self,
        stage: Stage,
        key: str,
        candidate: Callable[[], ImageConfig],
        make: Callable[[ImageConfig], Awaitable[str]],
    ) -> str:
        """The image for the step whose result would have config ``candidate()``: from the
        cache or a ``--cache-from`` image (saying "Using cache"), else by awaiting
        ``make(candidate())``. After the first miss nothing more is looked up, as in dockerd.
        A plain cache hit never builds the candidate config."""
        if self.cache_ok:
            hit = self.backend.cache_get(key)
            if hit is None and self.options.cache_from:
                hit = await self.from_sources(stage, candidate())
                if hit is not None:
                    self.backend.cache_put(key, hit)
            if hit is not None:
                self.emit(" ---> Using cache\n")
                return hit
        self.cache_ok = False
        image_id = await make(candidate())
        self.backend.cache_put(key, image_id)
        return image_id

    async def from_sources(self, stage: Stage, candidate: ImageConfig) -> str | None:
        """A ``--cache-from`` image whose history continues the stage's with this step (same
        layers so far, same ``created_by`` next): the step's image, reusing its layer."""
        step = candidate.history[-1]
        done = [(h.created_by, h.empty_layer) for h in stage.config.history]
        layers = stage.config.diff_ids
        for ref in self.options.cache_from:
            try:
                source_id, source = self.backend.get_image(ref)
            except WharfError:
                continue
            history = source.history
            if len(history) <= len(done) or source.diff_ids[: len(layers)] != layers:
                continue
            if [(h.created_by, h.empty_layer) for h in history[: len(done)]] != done:
                continue
            entry = history[len(done)]
            if (entry.created_by, entry.empty_layer) != (step.created_by, step.empty_layer):
                continue
            if step.empty_layer:
                return await self.backend.commit_config(stage.image, candidate)
            if len(source.diff_ids) > len(layers):
                return await self.backend.reuse_layer(
                    stage.image, candidate, source_id, len(layers)
                )
        return None

    def set_image(self, stage: Stage, image_id: str) -> None:
        _, config = self.backend.get_image(image_id)
        stage.image = image_id
        stage.config = config
        self.emit(f" ---> {_short(image_id)}\n")

    async def commit_config(self, stage: Stage, new: ContainerConfig, text: str) -> None:
        """A config-only step: cache by (parent, text), image with an empty history layer."""
        created_by = f"/bin/sh -c #(nop)  {text}"
        key = self.cache_key(stage, "config", created_by)

        def candidate() -> ImageConfig:
            return self.history(
                dataclasses.replace(stage, config=dataclasses.replace(stage.config, config=new)),
                created_by,
                empty=True,
            )

        async def make(config: ImageConfig) -> str:
            return await self.backend.commit_config(stage.image, config)

        self.set_image(stage, await self.cached(stage, key, candidate, make))

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> str:
        from wharf.build import dispatchers

        instructions = list(self.dockerfile.instructions)
        if not instructions:
            raise BuildFailed("the Dockerfile (Dockerfile) cannot be empty")
        stage_names: list[str] = []
        first_from = next((i for i, ins in enumerate(instructions) if ins.keyword == "FROM"), None)
        if first_from is None:
            raise instructions[0].error("no build stage in current context: expected a FROM")
        for ins in instructions[:first_from]:
            if ins.keyword != "ARG":
                raise ins.error(f"{ins.keyword} before the first FROM: only ARG may come first")
        for ins in instructions:
            if ins.keyword == "FROM":
                words = ins.args.split()
                stage_names.append(
                    words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
                )
        target_index = len(stage_names) - 1
        if self.options.target:
            if self.options.target.lower() not in stage_names:
                raise BuildFailed(
                    f"failed to reach build target {self.options.target} in Dockerfile"
                )
            target_index = stage_names.index(self.options.target.lower())
        stage: Stage | None = None
        for ins in instructions:
            if ins.keyword == "FROM" and stage is not None and stage.index == target_index:
                break
            self.step += 1
            self.emit(f"Step {self.step}/{self.total} : {ins.original}\n")
            stage = await dispatchers.dispatch(self, stage, ins)
        assert stage is not None
        if self.options.labels:
            labels = {**stage.container.labels, **self.options.labels}
            new = dataclasses.replace(stage.container, labels=labels)
            text = "LABEL " + " ".join(f'{k}="{v}"' for k, v in sorted(self.options.labels.items()))
            await self.commit_config(stage, new, text)
        if stage.image is None:
            raise BuildFailed("no image was generated. Is your Dockerfile empty?")
        unused = sorted(set(self.options.build_args) - self.used_args - BUILTIN_ARGS)
        if unused:
            self.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return stage.image


async def build(
    dockerfile_text: str,
    context: Path,
    options: BuildOptions,
    backend: BuildBackend,
    emit: Emit,
    *,
    checksums: MutableMapping[tuple[str, ...], str] | None = None,
    scratch: Path | None = None,
) -> str:
    """Build and tag; returns the image ID. ``checksums`` remembers the COPY checksums of
    ``context`` across builds (pass the same mapping only while the context is unchanged);
    ``scratch`` is a private directory for ADD's downloads (needed only if there are any).

    Raises:
        InvalidArgument: a parse or instruction error (the message names the line).
        NotFound: a missing base image or stage.
        BuildFailed: a RUN exited non-zero (``code``) or the Dockerfile is empty.
    """
    dockerfile = _parse(dockerfile_text)
    evaluator = Evaluator(
        dockerfile, context, options, backend, emit, checksums=checksums, scratch=scratch
    )
    image_id = await evaluator.run()
    for ref in options.tags:
        backend.tag(image_id, ref)
    return image_id
