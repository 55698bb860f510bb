"""Dockerfile text -> :class:`Dockerfile`: parser directives, comments, line continuations,
heredocs, flags, and the JSON (exec) form. Errors say ``dockerfile parse error line N: ...``
as dockerd does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

from wharf.errors import InvalidArgument

__all__ = ["KEYWORDS", "Dockerfile", "Heredoc", "Instruction", "parse"]

KEYWORDS: Final = frozenset(
    {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
        "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
        "HEALTHCHECK", "SHELL",
    }
)  # fmt: skip
_FLAGS: Final = {
    "FROM": {"platform"},
    "RUN": set(),
    "COPY": {"from", "chown", "chmod", "link"},
    "ADD": {"chown", "chmod", "link"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "retries", "start-interval"},
}
_HEREDOC_KEYWORDS: Final = frozenset({"RUN", "COPY", "ADD"})
_DIRECTIVE: Final = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC: Final = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_FLAG: Final = re.compile(r"^--([a-z][a-z-]*)(?:=(\S*))?$")


@dataclass(frozen=True)
class Heredoc:
    """A here-document: its name, body (lines joined with newlines, ending with one), and
    whether variables in it are expanded (not when the name was quoted)."""

    name: str
    body: str
    expand: bool = True
    strip_tabs: bool = False


@dataclass(frozen=True)
class Instruction:
    """One instruction as written.

    Attributes:
        keyword: the upper-cased instruction name (``RUN``).
        args: the argument text after the flags, continuations joined.
        line: the 1-based line where the instruction starts.
        original: the instruction as written on one line (for ``Step N/M :``).
        flags: ``--name=value`` flags given before the arguments, in order.
        json: the arguments when written in JSON (exec) form, else None.
        heredocs: here-documents the instruction introduces, in order.
    """

    keyword: str
    args: str
    line: int
    original: str
    flags: tuple[tuple[str, str], ...] = ()
    json: tuple[str, ...] | None = None
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str) -> str | None:
        """The value of the last ``--name`` flag, or None."""
        found = None
        for key, value in self.flags:
            if key == name:
                found = value
        return found

    def error(self, message: str) -> InvalidArgument:
        """An InvalidArgument naming this instruction's line."""
        return InvalidArgument(f"dockerfile parse error line {self.line}: {message}")


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile."""

    instructions: tuple[Instruction, ...]
    directives: dict[str, str] = field(default_factory=dict)
    escape: str = "\\"


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile.

    Raises:
        InvalidArgument: an unknown instruction, a bad directive, an unterminated heredoc or
            JSON form, or a flag an instruction does not take; the message names the line.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    directives: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if not match:
            break
        key = match[1].lower()
        if key not in ("escape", "syntax", "check"):
            break
        if key in directives:
            raise InvalidArgument(
                f"dockerfile parse error line {index + 1}: "
                f"only one {key} parser directive can be used"
            )
        directives[key] = match[2]
        index += 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidArgument(
            f"dockerfile parse error line 1: invalid escape token {escape!r}: expected '\\' or '`'"
        )
    instructions: list[Instruction] = []
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index
        parts: list[str] = []
        while True:
            line = lines[index].rstrip()
            index += 1
            if line.endswith(escape) and not (parts and not line.strip()):
                parts.append(line[: -len(escape)])
                while index < len(lines) and lines[index].lstrip().startswith("#"):
                    index += 1
                if index >= len(lines):
                    break
                continue
            parts.append(line)
            break
        logical = "".join(parts).strip()
        keyword, _, rest = logical.partition(" ")
        if not rest and "\t" in keyword:
            keyword, _, rest = keyword.partition("\t")
        keyword_upper = keyword.upper()
        if keyword_upper not in KEYWORDS:
            raise InvalidArgument(
                f"dockerfile parse error line {start + 1}: unknown instruction: {keyword}"
            )
        instruction, index = _instruction(
            keyword_upper, rest.strip(), start + 1, logical, lines=lines, index=index
        )
        instructions.append(instruction)
    return Dockerfile(tuple(instructions), directives, escape)


def parse_line(text: str, line: int) -> Instruction:
    """One instruction on its own (an ONBUILD trigger).

    Raises:
        InvalidArgument: as :func:`parse`.
    """
    keyword, _, rest = text.strip().partition(" ")
    if keyword.upper() not in KEYWORDS:
        raise InvalidArgument(f"dockerfile parse error line {line}: unknown instruction: {keyword}")
    instruction, _ = _instruction(
        keyword.upper(), rest.strip(), line, text.strip(), lines=[], index=0
    )
    return instruction


def _instruction(
    keyword: str, rest: str, line: int, original: str, *, lines: list[str], index: int
) -> tuple[Instruction, int]:
    flags: list[tuple[str, str]] = []
    if keyword in _FLAGS:
        while rest.startswith("--"):
            word, _, remainder = rest.partition(" ")
            match = _FLAG.match(word)
            if not match:
                raise InvalidArgument(f"dockerfile parse error line {line}: bad flag {word!r}")
            if match[1] not in _FLAGS[keyword]:
                raise InvalidArgument(
                    f"dockerfile parse error line {line}: unknown flag: --{match[1]} for {keyword}"
                )
            flags.append((match[1], match[2] if match[2] is not None else "true"))
            rest = remainder.strip()
    heredocs: list[Heredoc] = []
    if keyword in _HEREDOC_KEYWORDS:
        for match in _HEREDOC.finditer(rest):
            strip_tabs, quote, name = match[1] == "-", match[2], match[3]
            body: list[str] = []
            while True:
                if index >= len(lines):
                    raise InvalidArgument(
                        f"dockerfile parse error line {line}: unterminated heredoc {name!r}"
                    )
                raw = lines[index]
                index += 1
                candidate = raw.lstrip("\t") if strip_tabs else raw
                if candidate == name:
                    break
                body.append(candidate)
            text = "".join(b + "\n" for b in body)
            heredocs.append(Heredoc(name, text, expand=not quote, strip_tabs=strip_tabs))
    json_form: tuple[str, ...] | None = None
    if rest.startswith("[") and not heredocs:
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            json_form = tuple(value)
    if not rest and keyword not in ("CMD", "ENTRYPOINT", "RUN", "HEALTHCHECK", "MAINTAINER"):
        raise InvalidArgument(
            f"dockerfile parse error line {line}: {keyword} requires at least one argument"
        )
    if keyword == "SHELL" and json_form is None:
        raise InvalidArgument(
            f"dockerfile parse error line {line}: SHELL requires the arguments to be in JSON form"
        )
    return (
        Instruction(keyword, rest, line, original, tuple(flags), json_form, tuple(heredocs)),
        index,
    )
