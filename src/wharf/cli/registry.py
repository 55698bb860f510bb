"""``wharf registry``: the registry's click group, added to the main CLI by ``cli/main.py``.

The group lives in :mod:`wharf.registry.command` so ``python -m wharf.registry`` runs it
without importing the CLI layer.
"""

from wharf.registry.command import registry

__all__ = ["registry"]
