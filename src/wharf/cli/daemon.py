"""``wharf daemon``: run the engine (dockerd's flag names)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["daemon"]


def _size(value: str) -> int:
    from wharf.cli.containers import parse_bytes

    return parse_bytes(value, "--max-build-context-size")


@click.command()
@click.option("-H", "--host", "hosts", multiple=True, help="unix://PATH to listen on (repeatable).")
@click.option("--data-root", default="/var/lib/wharf", show_default=True, help="Persistent state.")
@click.option("--exec-root", default="/run/wharf", show_default=True, help="Runtime state.")
@click.option("-p", "--pidfile", default="/run/wharf/wharf.pid", show_default=True)
@click.option(
    "-l",
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warn", "error", "fatal"]),
)
@click.option(
    "--runtime",
    "runtime",
    default="wharf",
    show_default=True,
    type=click.Choice(["wharf", "runc", "crun"]),
)
@click.option(
    "--cgroup-parent", default="wharf", show_default=True, help="Parent cgroup of every container."
)
@click.option(
    "--registry-mirror", "mirrors", multiple=True, help="Docker Hub mirror URL (repeatable)."
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    help="Registry host[:port] or CIDR reached over plain http (repeatable).",
)
@click.option(
    "--docker-hub/--no-docker-hub",
    default=False,
    show_default=True,
    help="Let docker.io names reach Docker Hub (mirrors serve them either way).",
)
@click.option("-b", "--bridge", default="wharf0", show_default=True, help="Default bridge.")
@click.option("--bip", default="10.88.0.1/16", show_default=True, help="Default bridge's IP.")
@click.option(
    "--max-build-context-size",
    "max_context",
    default="4g",
    callback=lambda _ctx, _param, value: _size(value),
    show_default=True,
    help="Largest build context accepted (tar bytes as sent, and its files extracted); "
    "binary units k, m, g.",
)
@click.option("--init", "init", is_flag=True, help="Run an init in every container by default.")
@click.option("--init-path", default="", help="The init binary (default: docker-init on $PATH).")
def daemon(
    *,
    hosts: tuple[str, ...],
    data_root: str,
    exec_root: str,
    pidfile: str,
    log_level: str,
    runtime: str,
    cgroup_parent: str,
    mirrors: tuple[str, ...],
    insecure: tuple[str, ...],
    docker_hub: bool,
    bridge: str,
    bip: str,
    max_context: int,
    init: bool,
    init_path: str,
) -> None:
    """Run the Wharf engine daemon."""
    # The zygote first, before the daemon's imports: each container's monitor is a fork of
    # it, and what it has not imported is memory no monitor maps.
    from wharf.runtime.zygote import start_zygote

    zygote = start_zygote()
    from wharf.daemon.config import DEFAULT_HOST, DaemonConfig
    from wharf.daemon.server import run
    from wharf.distribution.hosts import RegistryHosts
    from wharf.errors import WharfError

    config = DaemonConfig(
        hosts=hosts or (DEFAULT_HOST,),
        data_root=Path(data_root),
        exec_root=Path(exec_root),
        pidfile=Path(pidfile),
        log_level="warning"
        if log_level == "warn"
        else ("critical" if log_level == "fatal" else log_level),
        runtime=runtime,
        cgroup_parent=cgroup_parent,
        registry_hosts=RegistryHosts(mirrors=mirrors, insecure=insecure, docker_hub=docker_hub),
        bridge=bridge,
        bip=bip,
        max_build_context=max_context,
        init=init,
        init_path=init_path,
    )
    try:
        run(config, zygote)
    except WharfError as exc:
        click.echo(f"wharf daemon: {exc}", err=True)
        sys.exit(1)
