"""System commands: events, system df, version, info."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime

import click

from wharf import __version__
from wharf.cli._common import client, handle_errors, parse_filters, print_table, size

__all__ = ["events", "info", "system", "version"]


@click.command()
@click.option("--since", help="Show events since a timestamp.")
@click.option("--until", help="Stream events until a timestamp.")
@click.option(
    "-f", "--filter", "filters", multiple=True, help="Filter (type=, container=, event=)."
)
@click.option("--format", "fmt", help="'json' for one JSON object per line.")
@click.pass_context
@handle_errors()
def events(
    ctx: click.Context,
    /,
    *,
    since: str | None,
    until: str | None,
    filters: tuple[str, ...],
    fmt: str | None,
) -> None:
    """Get real time events from the daemon."""
    for event in client(ctx).events(since=since, until=until, filters=parse_filters(filters)):
        if fmt == "json":
            click.echo(json.dumps(event))
            continue
        when = datetime.fromtimestamp(event["timeNano"] / 1e9, UTC).isoformat()
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"]["Attributes"].items()))
        click.echo(f"{when} {event['Type']} {event['Action']} {event['Actor']['ID']} ({attrs})")


@click.group()
def system() -> None:
    """Manage the Wharf engine."""


@system.command("df")
@click.pass_context
@handle_errors()
def df(ctx: click.Context) -> None:
    """Show disk usage."""
    usage = client(ctx).disk_usage()
    images = usage["Images"]
    containers = usage["Containers"]
    active_images = {c["ImageID"] for c in containers}
    running = sum(1 for c in containers if c["State"] == "running")
    print_table(
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [
            [
                "Images",
                str(len(images)),
                str(sum(1 for i in images if i["Id"] in active_images)),
                size(usage["LayersSize"]),
                size(0),
            ],
            ["Containers", str(len(containers)), str(running), size(0), size(0)],
            ["Local Volumes", "0", "0", "0B", "0B"],
            ["Build Cache", "0", "0", "0B", "0B"],
        ],
    )


@click.command()
@click.pass_context
@handle_errors()
def version(ctx: click.Context) -> None:
    """Show the client and daemon versions."""
    click.echo(f"Client:\n Version:    {__version__}\n Python:     {platform.python_version()}\n")
    server = client(ctx).version()
    click.echo(
        f"Server: Wharf Engine\n Version:    {server['Version']}\n"
        f" API version: {server['ApiVersion']} (minimum {server['MinAPIVersion']})\n"
        f" Kernel:     {server['KernelVersion']}"
    )


@click.command()
@click.pass_context
@handle_errors()
def info(ctx: click.Context) -> None:
    """Display system-wide information."""
    data = client(ctx).info()
    for key in (
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "ServerVersion",
        "Driver",
        "CgroupVersion",
        "DefaultRuntime",
        "KernelVersion",
        "OperatingSystem",
        "NCPU",
        "MemTotal",
        "DockerRootDir",
        "Name",
    ):
        click.echo(f" {key}: {data.get(key)}")
