"""Docker's word processing (moby ``frontend/dockerfile/shell``): quotes, the escape
character and ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}``, ``${VAR-word}``,
``${VAR+word}``, ``${VAR:?message}`` expansion over a mapping. Unset variables expand to ``""``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from wharf.errors import InvalidArgument

__all__ = ["Lexer"]

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME = _NAME_START | frozenset("0123456789")


class Lexer:
    """Expands words the way the Dockerfile frontend does.

    Args:
        escape: the escape character (``\\`` or, by parser directive, ``\\```).
    """

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def process_word(self, text: str, env: Mapping[str, str], used: set[str] | None = None) -> str:
        """``text`` as one word: quotes removed, escapes applied, variables expanded.

        Args:
            used: if given, collects the names of the variables looked up.

        Raises:
            InvalidArgument: an unterminated quote or ``${``, or a failed ``${V:?msg}``.
        """
        words = self._process(text, env, used, split=False)
        return words[0] if words else ""

    def process_words(
        self, text: str, env: Mapping[str, str], used: set[str] | None = None
    ) -> list[str]:
        """``text`` split into words on unquoted whitespace (also inside expanded values)."""
        return self._process(text, env, used, split=True)

    def _process(
        self, text: str, env: Mapping[str, str], used: set[str] | None, *, split: bool
    ) -> list[str]:
        words: list[str] = []
        current: list[str] = []
        started = False
        i = 0
        n = len(text)

        def lookup(name: str) -> str | None:
            if used is not None:
                used.add(name)
            return env.get(name)

        def flush() -> None:
            nonlocal started
            if started:
                words.append("".join(current))
            current.clear()
            started = False

        while i < n:
            ch = text[i]
            if split and ch in " \t\r\n":
                flush()
                i += 1
            elif ch == self.escape:
                started = True
                if i + 1 < n:
                    current.append(text[i + 1])
                    i += 2
                else:
                    current.append(ch)
                    i += 1
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise InvalidArgument(
                        f"unterminated single quote in {text!r}: expected a closing '"
                    )
                started = True
                current.append(text[i + 1 : end])
                i = end + 1
            elif ch == '"':
                started = True
                i += 1
                while True:
                    if i >= n:
                        raise InvalidArgument(
                            f'unterminated double quote in {text!r}: expected a closing "'
                        )
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == self.escape and i + 1 < n and text[i + 1] in ('"', "$", self.escape):
                        current.append(text[i + 1])
                        i += 2
                    elif c == "$":
                        value, i = self._dollar(text, i, env, lookup)
                        current.append(value)
                    else:
                        current.append(c)
                        i += 1
            elif ch == "$":
                value, i = self._dollar(text, i, env, lookup)
                if split and value:
                    parts = value.split()
                    if value[0].isspace():
                        flush()
                    for k, part in enumerate(parts):
                        if k:
                            flush()
                        current.append(part)
                        started = True
                    if value[-1].isspace():
                        flush()
                elif value or not split:
                    current.append(value)
                    started = started or bool(value) or not split
            else:
                started = True
                current.append(ch)
                i += 1
        flush()
        return words

    def _dollar(
        self,
        text: str,
        i: int,
        env: Mapping[str, str],
        lookup: Callable[[str], str | None],
    ) -> tuple[str, int]:
        n = len(text)
        i += 1
        if i >= n:
            return "$", i
        if text[i] == "{":
            end = _closing_brace(text, i + 1)
            if end < 0:
                raise InvalidArgument(f"missing '}}' in {text!r}")
            body = text[i + 1 : end]
            j = 0
            while j < len(body) and body[j] in _NAME:
                j += 1
            name = body[:j]
            if not name or name[0] not in _NAME_START:
                raise InvalidArgument(f"bad substitution {text[i - 1 : end + 1]!r} in {text!r}")
            op = body[j:]
            value = lookup(name)
            if not op:
                return value or "", end + 1
            for prefix in (":-", ":+", ":?", "-", "+", "?"):
                if op.startswith(prefix):
                    word = self.process_word(op[len(prefix) :], env)
                    break
            else:
                raise InvalidArgument(f"unsupported modifier {op!r} in {text!r}")
            empty = value is None or (prefix.startswith(":") and value == "")
            if prefix.endswith("-"):
                return (word if empty else value or ""), end + 1
            if prefix.endswith("+"):
                return ("" if empty else word), end + 1
            if empty:
                raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
            return value or "", end + 1
        j = i
        while j < n and text[j] in _NAME:
            j += 1
        if j == i or text[i] not in _NAME_START:
            return "$", i
        return lookup(text[i:j]) or "", j


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for k in range(start, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return -1
