"""Image commands: images, rmi, tag, save, load, import, history, commit."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO

import click

from wharf.cli._common import (
    age,
    client,
    fail,
    handle_errors,
    parse_filters,
    print_table,
    short_id,
    size,
)

__all__ = ["commit", "history", "images", "import_", "load", "rmi", "save", "tag"]


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, sep, tag_ = ref.rpartition(":")
    if not sep or "/" in tag_:
        return ref, None
    return name, tag_


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(1 << 16):
        yield chunk


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option(
    "-f", "--filter", "filters", multiple=True, help="Filter (dangling=, label=, reference=)."
)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("reference", required=False)
@click.pass_context
@handle_errors()
def images(
    ctx: click.Context,
    /,
    *,
    all_: bool,
    quiet: bool,
    filters: tuple[str, ...],
    no_trunc: bool,
    reference: str | None,
) -> None:
    """List images."""
    wanted = parse_filters(filters)
    if reference:
        wanted.setdefault("reference", []).append(reference)
    items = client(ctx).images(all=all_, filters=wanted)
    if quiet:
        for image in items:
            click.echo(image["Id"] if no_trunc else short_id(image["Id"]))
        return
    rows = []
    for image in items:
        tags = image.get("RepoTags") or ["<none>:<none>"]
        for ref in tags:
            repo, tag_ = _split_ref(ref)
            rows.append(
                [
                    repo,
                    tag_ or "<none>",
                    image["Id"] if no_trunc else short_id(image["Id"]),
                    age(image["Created"]),
                    size(image["Size"]),
                ]
            )
    print_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def rmi(ctx: click.Context, /, *, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more images."""
    from wharf.errors import WharfError

    api = client(ctx)
    failed = False
    for ref in refs:
        try:
            for item in api.remove_image(ref, force=force):
                key = "Untagged" if "Untagged" in item else "Deleted"
                click.echo(f"{key}: {item[key]}")
        except WharfError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@click.command()
@click.argument("source")
@click.argument("target")
@click.pass_context
@handle_errors()
def tag(ctx: click.Context, /, *, source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    repo, tag_ = _split_ref(target)
    client(ctx).tag(source, repo, tag_)


@click.command()
@click.option("-o", "--output", help="Write to a file instead of STDOUT.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def save(ctx: click.Context, /, *, output: str | None, refs: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive."""
    if output is None and sys.stdout.isatty():
        fail("wharf: refusing to write a tar archive to a terminal; use -o or redirect", 1)
    chunks = client(ctx).save(list(refs))
    target = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if output:
            target.close()


@click.command()
@click.option("-i", "--input", "input_", help="Read from a tar archive file instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output.")
@click.pass_context
@handle_errors()
def load(ctx: click.Context, /, *, input_: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN."""
    source = open(input_, "rb") if input_ else sys.stdin.buffer  # noqa: SIM115
    try:
        for message in client(ctx).load(_chunks(source)):
            if "error" in message:
                fail(str(message["error"]), 1)
            click.echo(str(message.get("stream", "")).rstrip("\n"))
    finally:
        if input_:
            source.close()


@click.command("import")
@click.option("-c", "--change", "changes", multiple=True, help="Dockerfile instruction to apply.")
@click.option("-m", "--message", help="Commit message.")
@click.argument("file")
@click.argument("reference", required=False)
@click.pass_context
@handle_errors()
def import_(
    ctx: click.Context,
    /,
    *,
    changes: tuple[str, ...],
    message: str | None,
    file: str,
    reference: str | None,
) -> None:
    """Import a rootfs tarball (FILE or - for STDIN) as an image."""
    repo, tag_ = _split_ref(reference) if reference else (None, None)
    source = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    try:
        for line in client(ctx).import_image(
            _chunks(source), repo=repo, tag=tag_, changes=list(changes), message=message
        ):
            click.echo(line.get("status", ""))
    finally:
        if file != "-":
            source.close()


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.argument("image")
@click.pass_context
@handle_errors()
def history(ctx: click.Context, /, *, quiet: bool, image: str) -> None:
    """Show the history of an image."""
    rows = client(ctx).history(image)
    if quiet:
        for row in rows:
            click.echo(short_id(row["Id"]) if row["Id"] != "<missing>" else "<missing>")
        return
    print_table(
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        [
            [
                short_id(r["Id"]) if r["Id"] != "<missing>" else "<missing>",
                age(r["Created"]),
                (r["CreatedBy"] or "")[:45],
                size(r["Size"]),
                r.get("Comment") or "",
            ]
            for r in rows
        ],
    )


@click.command()
@click.option("-a", "--author", help="Author.")
@click.option("-m", "--message", help="Commit message.")
@click.option("-c", "--change", "changes", multiple=True, help="Dockerfile instruction to apply.")
@click.option("-p/--no-pause", "--pause", "pause", default=True, help="Pause during commit.")
@click.argument("container")
@click.argument("reference", required=False)
@click.pass_context
@handle_errors()
def commit(
    ctx: click.Context,
    /,
    *,
    author: str | None,
    message: str | None,
    changes: tuple[str, ...],
    pause: bool,
    container: str,
    reference: str | None,
) -> None:
    """Create a new image from a container's changes."""
    repo, tag_ = _split_ref(reference) if reference else (None, None)
    image_id = client(ctx).commit(
        container,
        repo=repo,
        tag=tag_,
        author=author,
        message=message,
        changes=list(changes),
        pause=pause,
    )
    click.echo(image_id)
