"""Random container names in Docker's ``adjective_surname`` style."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

__all__ = ["generate_name"]

_LEFT: Final = (
    "brave",
    "calm",
    "eager",
    "fervent",
    "gifted",
    "happy",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "quirky",
    "relaxed",
    "sharp",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
    "bold",
    "clever",
    "dreamy",
    "elated",
    "focused",
    "gallant",
    "hopeful",
    "inspiring",
    "kind",
)
_RIGHT: Final = (
    "lovelace",
    "turing",
    "hopper",
    "curie",
    "darwin",
    "euler",
    "fermat",
    "gauss",
    "hypatia",
    "kepler",
    "lamarr",
    "meitner",
    "noether",
    "pascal",
    "ramanujan",
    "shannon",
    "tesla",
    "wozniak",
    "babbage",
    "bohr",
    "dijkstra",
    "feynman",
    "galileo",
    "knuth",
    "newton",
    "ritchie",
    "thompson",
)


def generate_name(taken: Callable[[str], bool]) -> str:
    """A free random name; falls back to a numbered suffix after a few collisions."""
    for attempt in range(20):
        name = f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
        if attempt >= 5:
            name += str(secrets.randbelow(100))
        if not taken(name):
            return name
    return "wharf_" + secrets.token_hex(6)
