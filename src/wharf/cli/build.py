"""``wharf build``: a Dockerfile build over ``POST /build`` with a compact progress display.

The context directory is sent as a tar (the daemon applies ``.dockerignore``); each step is
shown as ``[N/M] INSTRUCTION`` with RUN output indented under it, cache hits marked, and the
image ID and tags at the end.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import click

from wharf.cli._common import client, fail, handle_errors

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["build"]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$", re.DOTALL)


def _tar_context(path: str, dockerfile: str | None, out: IO[bytes]) -> str:
    """Write the context at ``path`` as a tar to ``out``; returns the Dockerfile's name in it."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        for entry in sorted(os.listdir(path)):
            tar.add(os.path.join(path, entry), arcname=entry)
        if dockerfile is None:
            return "Dockerfile"
        full = os.path.abspath(dockerfile)
        inside = os.path.relpath(full, os.path.abspath(path))
        if not inside.startswith(".."):
            return inside
        with open(full, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo(".wharf-dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return ".wharf-dockerfile"


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(1 << 16):
        yield chunk


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not key:
            fail(f"{what} {value!r}: expected KEY=VALUE")
        out[key] = val if eq else os.environ.get(key)
    return out


@click.command()
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag).")
@click.option(
    "-f", "--file", "dockerfile", help="Name of the Dockerfile (default PATH/Dockerfile)."
)
@click.option("--build-arg", "build_args", multiple=True, help="Set a build-time variable.")
@click.option("--label", "labels", multiple=True, help="Set metadata for the image.")
@click.option("--target", default="", help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not use the cache.")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--network", default="", help="Networking mode for RUN steps.")
@click.argument("path")
@click.pass_context
@handle_errors()
def build(
    ctx: click.Context,
    /,
    *,
    tags: tuple[str, ...],
    dockerfile: str | None,
    build_args: tuple[str, ...],
    labels: tuple[str, ...],
    target: str,
    no_cache: bool,
    force_rm: bool,
    quiet: bool,
    network: str,
    path: str,
) -> None:
    """Build an image from a Dockerfile."""
    from rich.console import Console

    if not os.path.isdir(path):
        fail(f"build context {path!r}: expected a directory")
    console = Console(highlight=False, stderr=False)
    label_map = {k: v or "" for k, v in _pairs(labels, "--label").items()}
    params = {
        "t": list(tags),
        "buildargs": json.dumps(_pairs(build_args, "--build-arg")),
        "labels": json.dumps(label_map),
        "target": target or None,
        "nocache": no_cache,
        "forcerm": force_rm,
        "q": quiet,
        "networkmode": network or None,
        "version": "1",
    }
    with tempfile.TemporaryFile() as tmp:
        params["dockerfile"] = _tar_context(path, dockerfile, tmp)
        tmp.seek(0)
        messages = client(ctx).json_lines("POST", "/build", params=params, content=_chunks(tmp))
        image_id = ""
        for message in messages:
            if "error" in message:
                detail = message.get("errorDetail") or {}
                code = detail.get("code") if isinstance(detail, dict) else None
                fail(str(message["error"]), code if isinstance(code, int) and code > 0 else 1)
            aux = message.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
                continue
            text = str(message.get("stream", ""))
            if quiet or not text:
                continue
            _show(console, text)
    if quiet:
        click.echo(image_id)
        return
    console.print(f"[bold green]Built[/] {image_id.removeprefix('sha256:')[:12]}")
    for tag in tags:
        console.print(f"[bold green]Tagged[/] {tag}")


def _show(console: Console, text: str) -> None:
    from rich.markup import escape

    step = _STEP.match(text.rstrip("\n"))
    if step:
        console.print(f"[bold cyan][{step[1]}/{step[2]}][/] {escape(step[3])}")
        return
    # the daemon joins the lines that were ready together into one message
    for line in text.rstrip("\n").split("\n"):
        if line.startswith(" ---> Using cache"):
            console.print("      [dim]cached[/]")
        elif not line.startswith((" ---> ", "Removing intermediate", "Successfully ")):
            console.print(f"      [dim]{escape(line)}[/]")
