"""Pull and push progress as typed events, rendered as Docker's JSON messages.

The docker CLI draws a line per ``id`` and a bar from ``progressDetail``; the ``progress``
string is what it prints when the output is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "Message", "Progress", "PushResult", "Reporter", "human_size"]


def human_size(n: float) -> str:
    """Docker's ``units.HumanSize`` (decimal, 3 significant digits)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}TB"


@dataclass(frozen=True)
class Message:
    """A line without a bar (``Pulling from library/busybox``, ``Digest: sha256:…``).

    Attributes:
        status: the text.
        id: the line's key (a layer's short digest, a tag), or empty.
    """

    status: str
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.id:
            out["progressDetail"] = {}
            out["id"] = self.id
        return out


@dataclass(frozen=True)
class Progress:
    """A transfer's progress (``Downloading``/``Pushing``)."""

    status: str
    id: str
    current: int
    total: int

    def bar(self, width: int = 50) -> str:
        if self.total <= 0:
            return human_size(self.current)
        filled = min(width, width * self.current // self.total)
        arrow = ">" if filled < width else ""
        bar = "=" * max(0, filled - len(arrow)) + arrow + " " * (width - filled)
        return f"[{bar}] {human_size(self.current)}/{human_size(self.total)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "progressDetail": {"current": self.current, "total": self.total},
            "progress": self.bar(),
            "id": self.id,
        }


@dataclass(frozen=True)
class PushResult:
    """The final push message: ``<tag>: digest: <d> size: <n>`` plus its ``aux``."""

    tag: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "progressDetail": {},
            "aux": {"Tag": self.tag, "Digest": self.digest, "Size": self.size},
        }


Event = Message | Progress | PushResult
Reporter = Callable[[Event], None]
