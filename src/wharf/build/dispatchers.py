"""One function per Dockerfile instruction (moby's ``dispatchers.go``): each takes the
:class:`~wharf.build.evaluator.Evaluator`, the current stage and the instruction, and changes the
stage's image and config through the backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Final

from wharf.build.dockerfile import Instruction
from wharf.build.dockerfile.parser import KEYWORDS, parse_line
from wharf.build.evaluator import CopyStep, Download, Evaluator, RunStep, Stage
from wharf.errors import InvalidArgument, NotFound, Unavailable
from wharf.oci.image import ContainerConfig, Healthcheck, ImageConfig

__all__ = ["dispatch"]

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS: Final = {
    "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
    "h": 3600 * 10**9,
}  # fmt: skip


def _scratch() -> ImageConfig:
    return ImageConfig(architecture="amd64", os="linux", diff_ids=())


def split_quoted(text: str, escape: str) -> list[str]:
    """Words separated by unquoted whitespace, quotes kept (Docker's ``parseWords``)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and quote != "'":
            current.append(ch + text[i + 1])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if current:
                words.append("".join(current))
                current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if quote:
        raise InvalidArgument(f"unterminated quote in {text!r}: expected a closing {quote}")
    if current:
        words.append("".join(current))
    return words


def _pairs(ev: Evaluator, stage: Stage, ins: Instruction) -> list[tuple[str, str]]:
    try:
        words = split_quoted(ins.args, ev.dockerfile.escape)
    except InvalidArgument as exc:
        raise ins.error(str(exc)) from None
    if words and "=" not in words[0]:
        if ins.keyword == "LABEL" or len(words) < 2:
            raise ins.error(f"{ins.keyword} {ins.args}: expected NAME=VALUE pairs")
        name, _, rest = ins.args.partition(" ")
        return [(name, ev.expand(stage, rest.strip(), ins))]
    pairs: list[tuple[str, str]] = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq or not name:
            raise ins.error(f"{ins.keyword}: {word!r} is not of the form NAME=VALUE")
        pairs.append((ev.expand(stage, name, ins), ev.expand(stage, value, ins)))
    return pairs


def _command(stage: Stage, ins: Instruction) -> tuple[str, ...]:
    if ins.json is not None:
        return ins.json
    return (*stage.shell, ins.args)


async def dispatch(ev: Evaluator, stage: Stage | None, ins: Instruction) -> Stage | None:
    """Run one instruction; the stage it leaves (a new one for FROM; None before it)."""
    if ins.keyword == "FROM":
        return await _from(ev, ins)
    if stage is None:
        if ins.keyword != "ARG":
            raise ins.error(f"{ins.keyword} before the first FROM")
        for name, default in _arg_pairs(ev, None, ins):
            value = ev.arg_value(name, default)
            if value is not None:
                ev.meta_args[name] = value
        return None
    handler = _HANDLERS[ins.keyword]
    await handler(ev, stage, ins)
    return stage


def _arg_pairs(
    ev: Evaluator, stage: Stage | None, ins: Instruction
) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    try:
        words = split_quoted(ins.args, ev.dockerfile.escape)
    except InvalidArgument as exc:
        raise ins.error(str(exc)) from None
    for word in words:
        name, eq, value = word.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ins.error(f"ARG {word!r}: expected NAME or NAME=default")
        out.append((name, ev.expand(stage, value, ins) if eq else None))
    return out


async def _from(ev: Evaluator, ins: Instruction) -> Stage:
    words = ins.args.split()
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
        raise ins.error(f"FROM {ins.args}: expected FROM <image> [AS <name>]")
    name = words[2].lower() if len(words) == 3 else ""
    platform = ev.expand(None, ins.flag("platform") or "", ins)
    if platform and platform not in ("linux", "linux/amd64", "linux/x86_64"):
        raise ins.error(f"FROM --platform={platform}: only linux/amd64 images can be built here")
    ref = ev.expand(None, words[0], ins)
    if not ref:
        raise ins.error(f"FROM {words[0]}: the base image name is empty after expansion")
    previous = next((s for s in ev.stages if s.name and s.name == ref.lower()), None)
    stage = Stage(name=name, index=len(ev.stages), image=None, config=_scratch())
    if previous is not None:
        if previous.image is None:
            raise ins.error(f"FROM {ref}: stage {ref!r} produced no image")
        stage.image, stage.config = previous.image, previous.config
    elif ref.lower() != "scratch":
        try:
            stage.image, stage.config = ev.backend.get_image(ref)
        except NotFound:
            raise NotFound(
                f"dockerfile line {ins.line}: FROM {ref}: No such image: {ref} "
                "(expected a local image or an earlier stage name)"
            ) from None
    ev.stages.append(stage)
    ev.emit(f" ---> {stage.image.removeprefix('sha256:')[:12] if stage.image else ''}\n")
    triggers = stage.container.on_build
    if triggers:
        ev.emit(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        stage.config = dataclasses.replace(
            stage.config, config=dataclasses.replace(stage.container, on_build=())
        )
        for text in triggers:
            trigger = parse_line(text, ins.line)
            if trigger.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise ins.error(f"{trigger.keyword} isn't allowed as an ONBUILD trigger")
            await _HANDLERS[trigger.keyword](ev, stage, trigger)
    return stage


def _set(stage: Stage, **changes: object) -> ContainerConfig:
    return dataclasses.replace(stage.container, **changes)  # type: ignore[arg-type]


async def _env(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    env = dict(stage.env())
    pairs = _pairs(ev, stage, ins)
    for name, value in pairs:
        env[name] = value
        # later pairs in the same ENV see earlier ones
        stage.config = dataclasses.replace(
            stage.config, config=_set(stage, env=tuple(f"{k}={v}" for k, v in env.items()))
        )
    text = "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    await ev.commit_config(stage, stage.container, text)


async def _label(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    pairs = _pairs(ev, stage, ins)
    labels = {**stage.container.labels, **dict(pairs)}
    text = "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    await ev.commit_config(stage, _set(stage, labels=labels), text)


async def _maintainer(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    author = ev.expand(stage, ins.args, ins)
    stage.config = dataclasses.replace(stage.config, author=author)
    await ev.commit_config(stage, stage.container, f"MAINTAINER {author}")


async def _arg(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    for name, given in _arg_pairs(ev, stage, ins):
        default = ev.meta_args.get(name) if given is None else given
        value = ev.arg_value(name, default)
        if value is not None:
            stage.args[name] = value
    await ev.commit_config(stage, stage.container, f"ARG {ins.args}")


async def _workdir(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    path = ev.expand(stage, ins.args, ins)
    if not path.startswith("/"):
        path = (stage.container.working_dir or "/").rstrip("/") + "/" + path
    path = "/" + "/".join(p for p in path.split("/") if p and p != ".")
    new = _set(stage, working_dir=path)
    created_by = f"/bin/sh -c #(nop) WORKDIR {path}"
    key = ev.cache_key(stage, "workdir", created_by)

    def candidate() -> ImageConfig:
        return ev.history(
            dataclasses.replace(stage, config=dataclasses.replace(stage.config, config=new)),
            created_by,
            empty=False,
        )

    async def make(config: ImageConfig) -> str:
        step = CopyStep(base=stage.image, config=config, sources=(), dest=path + "/", context=None)
        return await ev.backend.copy(step)

    ev.set_image(stage, await ev.cached(stage, key, candidate, make))


async def _user(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    user = ev.expand(stage, ins.args, ins)
    await ev.commit_config(stage, _set(stage, user=user), f"USER {user}")


async def _cmd(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    cmd = _command(stage, ins)
    stage.cmd_set = True
    await ev.commit_config(stage, _set(stage, cmd=cmd), f"CMD {_json(cmd)}")


async def _entrypoint(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    entrypoint = _command(stage, ins) if ins.json is not None or ins.args else None
    changes: dict[str, object] = {"entrypoint": entrypoint}
    if not stage.cmd_set:
        changes["cmd"] = None
    await ev.commit_config(stage, _set(stage, **changes), f"ENTRYPOINT {_json(entrypoint or ())}")


def _json(words: tuple[str, ...]) -> str:
    """A word list as dockerd's history shows it (Go's ``%q`` of a slice)."""
    return "[" + " ".join(json.dumps(w, ensure_ascii=False) for w in words) + "]"


async def _expose(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    ports = set(stage.container.exposed_ports)
    added: list[str] = []
    for word in ev.expand_words(stage, ins.args, ins):
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise ins.error(f"EXPOSE {word}: invalid protocol {proto!r}")
        start, _, end = port.partition("-")
        if not start.isdigit() or (end and not end.isdigit()):
            raise ins.error(f"EXPOSE {word}: invalid port, expected N[-M][/tcp|udp|sctp]")
        for number in range(int(start), int(end or start) + 1):
            ports.add(f"{number}/{proto}")
            added.append(f"{number}/{proto}")
    await ev.commit_config(
        stage, _set(stage, exposed_ports=tuple(sorted(ports))), f"EXPOSE {' '.join(sorted(added))}"
    )


async def _volume(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    words = (
        [ev.expand(stage, w, ins) for w in ins.json]
        if ins.json is not None
        else ev.expand_words(stage, ins.args, ins)
    )
    if not words or any(not w.strip() for w in words):
        raise ins.error("VOLUME specified can not be an empty string")
    volumes = tuple(sorted({*stage.container.volumes, *words}))
    text = f"VOLUME [{' '.join(words)}]"  # Go's %v of a slice, as dockerd writes it
    await ev.commit_config(stage, _set(stage, volumes=volumes), text)


async def _stopsignal(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    signal = ev.expand(stage, ins.args, ins)
    if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", signal):
        raise ins.error(f"STOPSIGNAL {signal}: expected a signal name or number")
    await ev.commit_config(stage, _set(stage, stop_signal=signal), f"STOPSIGNAL {signal}")


def _duration(ins: Instruction, name: str) -> int:
    text = ins.flag(name)
    if text is None:
        return 0
    total = 0
    pos = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += int(float(match[1]) * _UNITS[match[2]])
        pos = match.end()
    if pos != len(text) or not text:
        raise ins.error(f"HEALTHCHECK --{name}={text}: expected a duration like 30s")
    return total


async def _healthcheck(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    word, _, rest = ins.args.partition(" ")
    if word.upper() == "NONE":
        if rest.strip() or ins.flags:
            raise ins.error("HEALTHCHECK NONE takes no other arguments")
        check = Healthcheck(test=("NONE",))
    elif word.upper() == "CMD":
        command = rest.strip()
        parsed = None
        if command.startswith("["):
            try:
                parsed = json.loads(command)
            except ValueError:
                parsed = None
        test = ("CMD", *parsed) if isinstance(parsed, list) else ("CMD-SHELL", command)
        retries = ins.flag("retries")
        if retries is not None and not retries.isdigit():
            raise ins.error(f"HEALTHCHECK --retries={retries}: expected a number")
        check = Healthcheck(
            test=test,
            interval=_duration(ins, "interval"),
            timeout=_duration(ins, "timeout"),
            start_period=_duration(ins, "start-period"),
            retries=int(retries or 0),
        )
    else:
        raise ins.error("HEALTHCHECK: expected CMD or NONE")
    await ev.commit_config(stage, _set(stage, healthcheck=check), f"HEALTHCHECK {_go_check(check)}")


def _go_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` for whole milliseconds and up."""
    if ns == 0:
        return "0s"
    if ns < 10**9:
        return f"{ns / 10**6:g}ms"
    seconds = ns / 10**9
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def _go_check(check: Healthcheck) -> str:
    """A healthcheck as dockerd's history shows it (Go's ``%v`` of the struct)."""
    retries = check.retries
    char = chr(retries) if 32 <= retries < 127 and chr(retries) not in "'\\" else None
    quoted = f"'{char}'" if char else f"'\\x{retries:02x}'"
    durations = " ".join(
        f'"{_go_duration(d)}"' for d in (check.interval, check.timeout, check.start_period)
    )
    return f"&{{{_json(check.test)} {durations} {quoted}}}"


async def _shell(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    assert ins.json is not None
    if not ins.json:
        raise ins.error("SHELL requires at least one argument")
    stage.shell = ins.json
    await ev.commit_config(stage, stage.container, f"SHELL [{' '.join(ins.json)}]")


async def _onbuild(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    keyword, _, rest = ins.args.partition(" ")
    upper = keyword.upper()
    if upper in ("ONBUILD", "FROM", "MAINTAINER"):
        raise ins.error(f"{upper} isn't allowed as an ONBUILD trigger")
    if upper not in KEYWORDS:
        raise ins.error(f"ONBUILD: unknown instruction: {keyword}")
    trigger = f"{upper} {rest.strip()}"
    await ev.commit_config(
        stage, _set(stage, on_build=(*stage.container.on_build, trigger)), f"ONBUILD {trigger}"
    )


def _run_argv(stage: Stage, ins: Instruction) -> tuple[str, ...]:
    if ins.json is not None:
        return ins.json
    if ins.heredocs:
        only = ins.args.strip()
        first = ins.heredocs[0]
        if re.fullmatch(r"<<-?['\"]?" + re.escape(first.name) + r"['\"]?", only):
            return (*stage.shell, first.body)
        text = ins.args + "\n" + "".join(f"{h.body}{h.name}\n" for h in ins.heredocs)
        return (*stage.shell, text)
    return (*stage.shell, ins.args)


async def _run(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    argv = _run_argv(stage, ins)
    env = stage.env()
    used = {k: v for k, v in sorted(stage.args.items()) if k not in env}
    run_env = (*stage.container.env, *(f"{k}={v}" for k, v in used.items()))
    created_by = " ".join(argv)
    if used:
        created_by = (
            f"|{len(used)} " + " ".join(f"{k}={v}" for k, v in used.items()) + " " + created_by
        )
    key = ev.cache_key(stage, "run", created_by)

    async def make(config: ImageConfig) -> str:
        step = RunStep(
            base=stage.image,
            config=config,
            argv=argv,
            env=run_env,
            user=stage.container.user,
            workdir=stage.container.working_dir,
            network_mode=ev.options.network_mode,
            rm=ev.options.rm,
            force_rm=ev.options.force_rm,
        )
        return await ev.backend.run(step, ev.emit)

    ev.set_image(stage, await ev.cached(stage, key, _history(ev, stage, created_by), make))


async def _copy(ev: Evaluator, stage: Stage, ins: Instruction) -> None:
    is_add = ins.keyword == "ADD"
    if ins.json is not None:
        words = [ev.expand(stage, w, ins) for w in ins.json]
    else:
        words = ev.expand_words(stage, ins.args, ins)
    if len(words) < 2:
        raise ins.error(f"{ins.keyword} requires at least two arguments, but got {len(words)}")
    *sources, dest = words
    heredoc_files: list[tuple[str, bytes]] = []
    names = {f"<<{h.name}": h for h in ins.heredocs} | {f"<<-{h.name}": h for h in ins.heredocs}
    plain: list[str] = []
    for source in sources:
        heredoc = names.get(source.strip("'\""))
        if heredoc is None:
            plain.append(source)
            continue
        body = ev.expand(stage, heredoc.body, ins) if heredoc.expand else heredoc.body
        heredoc_files.append((heredoc.name, body.encode()))
    if not dest.startswith("/"):
        base = stage.container.working_dir or "/"
        dest = base.rstrip("/") + "/" + dest
    if len(plain) + len(heredoc_files) > 1 and not dest.endswith("/"):
        raise ins.error(
            f"When using {ins.keyword} with more than one source file, "
            "the destination must be a directory and end with a /"
        )
    chmod_text = ins.flag("chmod")
    chmod = None
    if chmod_text is not None:
        if not re.fullmatch(r"[0-7]{1,4}", chmod_text):
            raise ins.error(f"{ins.keyword} --chmod={chmod_text}: expected an octal mode like 0755")
        chmod = int(chmod_text, 8)
    chown = ev.expand(stage, ins.flag("chown") or "", ins)
    source_image: str | None = None
    downloads: list[Download] = []
    from_flag = ins.flag("from")
    urls = [s for s in plain if s.startswith(("http://", "https://"))]
    if urls and not is_add:
        raise ins.error(f"COPY {urls[0]}: source can't be a URL for COPY, use ADD")
    if from_flag is not None:
        ref = ev.expand(stage, from_flag, ins)
        target = next((s for s in ev.stages[:-1] if s.name == ref.lower()), None)
        if target is None and ref.isdigit() and int(ref) < len(ev.stages) - 1:
            target = ev.stages[int(ref)]
        if target is not None:
            source_image = target.image
            if source_image is None:
                raise ins.error(f"COPY --from={ref}: stage {ref!r} is empty (FROM scratch)")
        else:
            try:
                source_image, _ = ev.backend.get_image(ref)
            except NotFound:
                raise NotFound(
                    f"dockerfile line {ins.line}: COPY --from={ref}: "
                    f"no stage or image named {ref!r}"
                ) from None
        digest = f"{source_image}:{sorted(plain)}"
    else:
        local = [s for s in plain if s not in urls]
        try:
            local_digest = ev.sources_checksum(local, f"{ins.keyword} failed")
        except (InvalidArgument, NotFound) as exc:
            raise type(exc)(f"dockerfile line {ins.line}: {exc}") from None
        downloads = [await _download(ev, ins, url) for url in urls]
        unnamed = next((d.url for d in downloads if not d.named), None)
        if unnamed is not None and dest.endswith("/"):
            raise ins.error(
                f"ADD failed: cannot determine filename for source {unnamed} "
                "(expected a destination file name, not a directory)"
            )
        digest = local_digest + ":" + ",".join(f"{d.path.name}:{d.digest}" for d in downloads)
    files_digest = [(n, len(b), hash_bytes(b)) for n, b in heredoc_files]
    if len(plain) + len(heredoc_files) > 1:
        kind = "multi"
    elif (len(plain) == 1 and source_image is None and (ev.context / plain[0]).is_dir()) or (
        len(plain) == 1 and source_image is not None and ev.backend.is_dir(source_image, plain[0])
    ):
        kind = "dir"
    elif plain == urls:
        kind = ""  # dockerd shows a lone URL's hash bare
    else:
        kind = "file"
    # dockerd glues the --chown flag to the source kind, without a space
    owner = f"--chown={chown}" if chown else ""
    source = f"{owner}{kind}{':' if kind else ''}{hash_bytes(digest.encode())}"
    created_by = f"/bin/sh -c #(nop) {ins.keyword} {source} in {dest} "
    key = ev.cache_key(stage, ins.keyword, created_by, digest, files_digest, chown, chmod)

    async def make(config: ImageConfig) -> str:
        step = CopyStep(
            base=stage.image,
            config=config,
            sources=tuple(s for s in plain if s not in urls),
            dest=dest,
            context=None if from_flag is not None else ev.context,
            source_image=source_image,
            files=tuple(heredoc_files),
            chown=chown,
            chmod=chmod,
            is_add=is_add,
            downloads=tuple(downloads),
        )
        return await ev.backend.copy(step)

    ev.set_image(stage, await ev.cached(stage, key, _history(ev, stage, created_by), make))


def _history(ev: Evaluator, stage: Stage, created_by: str) -> Callable[[], ImageConfig]:
    """The config of a step that adds a layer, made only when needed (a cache miss)."""
    return lambda: ev.history(stage, created_by, empty=False)


async def _download(ev: Evaluator, ins: Instruction, url: str) -> Download:
    """Fetch an ADD source URL (every build, as dockerd does: its content is in the key)."""
    if ev.scratch is None:
        raise ins.error(f"ADD {url}: this build has no scratch directory for downloads")
    try:
        return await ev.backend.download(url, ev.scratch)
    except (InvalidArgument, Unavailable) as exc:
        raise type(exc)(f"dockerfile line {ins.line}: {ins.keyword} failed: {exc}") from None


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HANDLERS: Final[dict[str, Callable[[Evaluator, Stage, Instruction], Awaitable[None]]]] = {
    "ENV": _env,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ARG": _arg,
    "WORKDIR": _workdir,
    "USER": _user,
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "EXPOSE": _expose,
    "VOLUME": _volume,
    "STOPSIGNAL": _stopsignal,
    "HEALTHCHECK": _healthcheck,
    "SHELL": _shell,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "COPY": _copy,
    "ADD": _copy,
}
