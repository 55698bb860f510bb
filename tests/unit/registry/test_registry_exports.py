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
        own = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and getattr(v, "__module__", "").startswith(module.__name__)
            and type(v).__name__ != "module"
        }
        assert own <= set(exported)
