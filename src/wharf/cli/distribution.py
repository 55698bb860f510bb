"""Registry commands: pull, push, login, logout, search.

Pull and push draw one rich progress bar per layer from the daemon's JSON messages (plain
lines when stdout is not a terminal). Logins are checked by the daemon (``POST /auth``) and
stored in the Docker config format, so the docker CLI sees them too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from wharf.cli._common import client, fail, handle_errors, print_table

__all__ = ["login", "logout", "pull", "push", "search"]


def _registry_of(reference: str) -> str:
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _split(reference: str) -> tuple[str, str]:
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, digest
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, ""
    return name, tag


def _render(messages: Iterator[dict[str, Any]]) -> None:
    """Show Docker's JSON messages: bars on a terminal, lines elsewhere; exit 1 on error."""
    if not sys.stdout.isatty():
        for message in messages:
            if "error" in message:
                fail(str(message["error"]))
            if message.get("status"):
                prefix = f"{message['id']}: " if message.get("id") else ""
                click.echo(prefix + str(message["status"]))
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.fields[layer]}"),
        TextColumn("{task.description:<20}"),
        BarColumn(),
        DownloadColumn(),
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}
        for message in messages:
            if "error" in message:
                progress.stop()
                fail(str(message["error"]))
            status = str(message.get("status", ""))
            layer = str(message.get("id", ""))
            detail = message.get("progressDetail") or {}
            if not layer or "aux" in message:
                if status:
                    progress.console.print(status)
                continue
            if layer not in tasks:
                tasks[layer] = progress.add_task(status, layer=layer, total=None)
            task = tasks[layer]
            if detail.get("total"):
                progress.update(
                    task, description=status, completed=detail["current"], total=detail["total"]
                )
            elif status in ("Pull complete", "Pushed", "Already exists", "Layer already exists"):
                total = progress.tasks[task].total or 1
                progress.update(task, description=status, completed=total, total=total)
            else:
                progress.update(task, description=status)


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Print only the image reference.")
@click.argument("reference")
@click.pass_context
@handle_errors()
def pull(ctx: click.Context, /, *, quiet: bool, reference: str) -> None:
    """Download an image from a registry."""
    from wharf.cli.dockerconfig import encode_auth_header

    name, tag = _split(reference)
    messages = client(ctx).pull(
        name, tag or "latest", auth=encode_auth_header(_registry_of(reference))
    )
    if quiet:
        for message in messages:
            if "error" in message:
                fail(str(message["error"]))
    else:
        _render(messages)
    click.echo(reference if (tag or "@" in reference) else f"{reference}:latest")


@click.command()
@click.argument("reference")
@click.pass_context
@handle_errors()
def push(ctx: click.Context, /, *, reference: str) -> None:
    """Upload an image to a registry."""
    from wharf.cli.dockerconfig import encode_auth_header

    name, tag = _split(reference)
    _render(client(ctx).push(name, tag or None, auth=encode_auth_header(_registry_of(reference))))


@click.command()
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False, default="")
@click.pass_context
@handle_errors()
def login(
    ctx: click.Context,
    /,
    *,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    server: str,
) -> None:
    """Log in to a registry (the daemon checks the credentials)."""
    from wharf.cli.dockerconfig import remember

    if password_stdin:
        if password:
            fail("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    result = client(ctx).login(username, password, server)
    remember(server or "docker.io", username, password)
    click.echo(result.get("Status") or "Login Succeeded")


@click.command()
@click.argument("server", required=False, default="")
@handle_errors()
def logout(server: str) -> None:
    """Forget the login for a registry."""
    from wharf.cli.dockerconfig import forget

    if forget(server or "docker.io"):
        click.echo(f"Removing login credentials for {server or 'https://index.docker.io/v1/'}")
    else:
        click.echo(f"Not logged in to {server or 'https://index.docker.io/v1/'}")


@click.command()
@click.option("--limit", default=25, show_default=True, help="Maximum number of results.")
@click.argument("term")
@click.pass_context
@handle_errors()
def search(ctx: click.Context, /, *, limit: int, term: str) -> None:
    """Search a registry for images (``REGISTRY/TERM`` searches that registry)."""
    from wharf.cli.dockerconfig import encode_auth_header

    rows = client(ctx).search(term, limit=limit, auth=encode_auth_header(_registry_of(term)))
    print_table(
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"],
        [
            [
                r["name"],
                r.get("description", ""),
                str(r.get("star_count", 0)),
                "[OK]" if r.get("is_official") else "",
            ]
            for r in rows
        ],
    )
