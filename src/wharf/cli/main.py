"""``wharf``: the entry point. Commands are imported lazily, on first use."""

from __future__ import annotations

import importlib
from typing import Any, Final

import click

from wharf import __version__

__all__ = ["main"]

# command name -> "module:attribute" under wharf.cli
_COMMANDS: Final = {
    "daemon": "daemon:daemon",
    "network": "network:network",
    "volume": "volume:volume",
    "run": "containers:run",
    "create": "containers:create",
    "start": "containers:start",
    "stop": "containers:stop",
    "restart": "containers:restart",
    "kill": "containers:kill",
    "pause": "containers:pause",
    "unpause": "containers:unpause",
    "rm": "containers:rm",
    "ps": "containers:ps",
    "logs": "containers:logs",
    "wait": "containers:wait",
    "inspect": "containers:inspect",
    "top": "containers:top",
    "rename": "containers:rename",
    "attach": "containers:attach",
    "exec": "containers:exec_",
    "cp": "containers:cp",
    "export": "containers:export",
    "diff": "containers:diff",
    "update": "containers:update",
    "commit": "images:commit",
    "images": "images:images",
    "rmi": "images:rmi",
    "tag": "images:tag",
    "save": "images:save",
    "load": "images:load",
    "import": "images:import_",
    "history": "images:history",
    "pull": "distribution:pull",
    "push": "distribution:push",
    "login": "distribution:login",
    "logout": "distribution:logout",
    "search": "distribution:search",
    "build": "build:build",
    "events": "system:events",
    "system": "system:system",
    "version": "system:version",
    "info": "system:info",
    "registry": "registry:registry",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: Any = getattr(importlib.import_module(f"wharf.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", "-v", prog_name="wharf", message="Wharf version %(version)s"
)
@click.option(
    "-H", "--host", envvar="WHARF_HOST", default=None, help="Daemon socket (unix://PATH)."
)
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """Wharf: a container engine that speaks Docker's API."""
    ctx.obj = host


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
