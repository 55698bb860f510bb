"""The registry package's public names are exactly its ``__all__`` (httpx's check)."""

from __future__ import annotations

import wharf.registry
import wharf.registry.storage


def test_public_names_are_exported_and_sorted() -> None:
    for module in (wharf.registry, wharf.registry.storage):
        exported = module.__all__
        assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
        for name in exported:
            assert getattr(module, name) is not None
        public = {n for n in vars(module) if not n.startswith("_")}
        submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
        assert public - submodules <= set(exported) | {"annotations"}
