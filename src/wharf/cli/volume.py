"""``wharf volume``: create, ls, inspect, rm, prune."""

from __future__ import annotations

import json

import click

from wharf.cli._common import client, handle_errors, parse_filters, print_table

__all__ = ["volume"]


@click.group()
def volume() -> None:
    """Manage volumes."""


@volume.command("create")
@click.option("--label", multiple=True, help="key=value metadata.")
@click.option("-o", "--opt", multiple=True, help="Driver option key=value (type, device, o).")
@click.argument("name", required=False)
@click.pass_context
@handle_errors()
def create(
    ctx: click.Context, /, *, label: tuple[str, ...], opt: tuple[str, ...], name: str | None
) -> None:
    """Create a volume."""
    body = {
        "Name": name or "",
        "Labels": dict(item.partition("=")[::2] for item in label),
        "DriverOpts": dict(item.partition("=")[::2] for item in opt),
    }
    click.echo(client(ctx).volume_create(body)["Name"])


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter (name=, label=, dangling=).")
@click.pass_context
@handle_errors()
def ls(ctx: click.Context, /, *, quiet: bool, filters: tuple[str, ...]) -> None:
    """List volumes."""
    items = client(ctx).volumes(filters=parse_filters(filters))
    if quiet:
        for v in items:
            click.echo(v["Name"])
        return
    print_table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in items])


@volume.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def inspect(ctx: click.Context, /, *, names: tuple[str, ...]) -> None:
    """Show volumes as JSON."""
    api = client(ctx)
    click.echo(json.dumps([api.volume_inspect(name) for name in names], indent=4))


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Ignore volumes that do not exist.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def rm(ctx: click.Context, /, *, force: bool, names: tuple[str, ...]) -> None:
    """Remove volumes (not those in use)."""
    api = client(ctx)
    for name in names:
        api.volume_remove(name, force=force)
        click.echo(name)


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Also named volumes.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt (always on).")
@click.pass_context
@handle_errors()
def prune(ctx: click.Context, /, *, all_: bool, force: bool) -> None:
    """Remove unused volumes."""
    report = client(ctx).volume_prune(all=all_)
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        click.echo("Deleted Volumes:")
        for name in deleted:
            click.echo(name)
    click.echo(f"Total reclaimed space: {report.get('SpaceReclaimed', 0)}B")
