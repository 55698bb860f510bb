"""``wharf network``: create, ls, inspect, rm, connect, disconnect, prune."""

from __future__ import annotations

import json

import click

from wharf.cli._common import client, handle_errors, parse_filters, print_table, short_id

__all__ = ["network"]


@click.group()
def network() -> None:
    """Manage networks."""


@network.command("create")
@click.option("-d", "--driver", default="bridge", show_default=True, help="Network driver.")
@click.option("--subnet", help="Subnet in CIDR form.")
@click.option("--gateway", help="Gateway of the subnet.")
@click.option("--internal", is_flag=True, help="No outbound NAT.")
@click.option("--attachable", is_flag=True, help="Allow manual attachment.")
@click.option("--label", multiple=True, help="key=value metadata.")
@click.argument("name")
@click.pass_context
@handle_errors()
def create(
    ctx: click.Context,
    /,
    *,
    driver: str,
    subnet: str | None,
    gateway: str | None,
    internal: bool,
    attachable: bool,
    label: tuple[str, ...],
    name: str,
) -> None:
    """Create a network."""
    ipam = {"Config": [{"Subnet": subnet, "Gateway": gateway or ""}]} if subnet else {}
    body = {
        "Name": name,
        "Driver": driver,
        "IPAM": ipam,
        "Internal": internal,
        "Attachable": attachable,
        "Labels": dict(item.partition("=")[::2] for item in label),
    }
    click.echo(client(ctx).network_create(body))


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show network IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter (name=, driver=, label=).")
@click.pass_context
@handle_errors()
def ls(ctx: click.Context, /, *, quiet: bool, filters: tuple[str, ...]) -> None:
    """List networks."""
    items = client(ctx).networks(filters=parse_filters(filters))
    if quiet:
        for n in items:
            click.echo(short_id(n["Id"]))
        return
    rows = [[short_id(n["Id"]), n["Name"], n["Driver"], n["Scope"]] for n in items]
    print_table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows)


@network.command("inspect")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def inspect(ctx: click.Context, /, *, refs: tuple[str, ...]) -> None:
    """Show networks as JSON."""
    api = client(ctx)
    click.echo(json.dumps([api.network_inspect(ref) for ref in refs], indent=4))


@network.command("rm")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def rm(ctx: click.Context, /, *, refs: tuple[str, ...]) -> None:
    """Remove networks."""
    api = client(ctx)
    for ref in refs:
        api.network_remove(ref)
        click.echo(ref)


@network.command("connect")
@click.option("--alias", multiple=True, help="Alias on the network.")
@click.argument("ref")
@click.argument("container")
@click.pass_context
@handle_errors()
def connect(ctx: click.Context, /, *, alias: tuple[str, ...], ref: str, container: str) -> None:
    """Connect a container to a network."""
    client(ctx).network_connect(ref, container, aliases=list(alias))


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the disconnection.")
@click.argument("ref")
@click.argument("container")
@click.pass_context
@handle_errors()
def disconnect(ctx: click.Context, /, *, force: bool, ref: str, container: str) -> None:
    """Disconnect a container from a network."""
    client(ctx).network_disconnect(ref, container, force=force)


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt (always on).")
@click.pass_context
@handle_errors()
def prune(ctx: click.Context, /, *, force: bool) -> None:
    """Remove unused networks."""
    deleted = client(ctx).network_prune().get("NetworksDeleted") or []
    if deleted:
        click.echo("Deleted Networks:")
        for name in deleted:
            click.echo(name)
