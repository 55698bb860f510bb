"""The `wharf registry` click group: `serve` and `garbage-collect` (used by `wharf.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from wharf.errors import WharfError

if TYPE_CHECKING:
    from wharf.registry.config import RegistryConfig

__all__ = ["registry"]


def _load(config: Path | None, addr: str | None, root: Path | None) -> RegistryConfig:
    from wharf.registry.config import load_config

    try:
        return load_config(config).with_overrides(addr=addr, root=root)
    except WharfError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def registry() -> None:
    """Run Wharf's OCI registry (Docker Registry HTTP API v2)."""


@registry.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--addr", help="listen address HOST:PORT (overrides http.addr)")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="storage root directory (overrides storage.filesystem.rootdirectory)",
)
def serve(config: Path | None, addr: str | None, root: Path | None) -> None:
    """Serve the registry described by CONFIG (a distribution-style YAML file)."""
    from wharf.registry.server import serve as run

    cfg = _load(config, addr, root)
    try:
        run(cfg)
    except WharfError as exc:
        raise click.ClickException(str(exc)) from exc


@registry.command("garbage-collect")
@click.argument("config", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="report what would be removed, remove nothing")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="storage root")
def garbage_collect(config: Path, dry_run: bool, root: Path | None) -> None:
    """Remove blobs no manifest references (mark and sweep)."""
    from wharf.registry.gc import collect
    from wharf.registry.storage import open_driver
    from wharf.registry.storage.store import Store

    cfg = _load(config, None, root)
    report = collect(Store(open_driver(cfg)), grace=cfg.gc_grace, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for digest in report.blobs:
        click.echo(f"{verb} blob {digest}")
    click.echo(
        f"{len(report.marked)} blobs in use, {verb} {len(report.blobs)} blobs "
        f"({report.bytes} bytes) and {report.layer_links} repository links"
    )
