"""``python -m wharf.registry serve ...``: the registry command without the full CLI."""

from wharf.registry.command import registry

if __name__ == "__main__":
    registry(prog_name="wharf registry")
