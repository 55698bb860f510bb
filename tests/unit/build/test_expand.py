"""Docker's word expansion rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.build.dockerfile import Lexer
from wharf.errors import InvalidArgument

ENV = {"A": "a", "EMPTY": "", "SP": "x y"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "a"),
        ("${A}b", "ab"),
        ("$UNSET-", "-"),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${A:+set}", "set"),
        ("${UNSET:+set}", ""),
        ("'$A'", "$A"),
        ('"$A $SP"', "a x y"),
        ("\\$A", "$A"),
        ('"\\$A"', "$A"),
        ("a\\ b", "a b"),
        ("$", "$"),
        ("${A:-${SP}}", "a"),
        ("${UNSET:-${SP}}", "x y"),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert Lexer().process_word(word, ENV) == expected


def test_process_words_splits_unquoted_whitespace_and_values() -> None:
    lexer = Lexer()
    assert lexer.process_words('a "b c" $SP', ENV) == ["a", "b c", "x", "y"]
    assert lexer.process_words('"$SP"', ENV) == ["x y"]
    assert lexer.process_words("$EMPTY a", ENV) == ["a"]


def test_used_variables_are_collected() -> None:
    used: set[str] = set()
    Lexer().process_word("${A}${B:-x}", ENV, used)
    assert used == {"A", "B"}


@pytest.mark.parametrize("word", ["'abc", '"abc', "${A", "${1x}", "${UNSET:?must be set}"])
def test_bad_words_are_errors(word: str) -> None:
    with pytest.raises(InvalidArgument):
        Lexer().process_word(word, ENV)


def test_backtick_escape() -> None:
    assert Lexer("`").process_word("a`$A\\b", ENV) == "a$A\\b"


@given(st.text(alphabet="abcxyz/._-", min_size=0, max_size=20))
def test_plain_words_are_unchanged(word: str) -> None:
    assert Lexer().process_word(word, ENV) == word
