"""The Dockerfile parser: directives, continuations, comments, heredocs, forms, errors."""

from __future__ import annotations

import pytest

from wharf.build.dockerfile import parse
from wharf.errors import InvalidArgument


def test_instructions_with_lines_continuations_and_comments() -> None:
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "# escape=\\\n"
        "\n"
        "FROM busybox AS base\n"
        "# a comment\n"
        "RUN echo a \\\n"
        "  # comment inside a continuation\n"
        "  && echo b\n"
        'cmd ["sh", "-c", "echo hi"]\n'
    )
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
    assert [(i.keyword, i.line) for i in df.instructions] == [("FROM", 4), ("RUN", 6), ("CMD", 9)]
    assert df.instructions[1].args == "echo a   && echo b"
    assert df.instructions[2].json == ("sh", "-c", "echo hi")
    assert df.instructions[1].json is None


def test_backtick_escape_directive() -> None:
    df = parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\n")
    assert df.escape == "`"
    assert df.instructions[1].args == "echo a   b"


def test_flags_are_split_from_arguments() -> None:
    ins = parse(
        "FROM busybox\nCOPY --from=build --chown=1:2 --chmod=0640 a b /dst/\n"
    ).instructions[1]
    assert ins.flags == (("from", "build"), ("chown", "1:2"), ("chmod", "0640"))
    assert ins.flag("from") == "build"
    assert ins.args == "a b /dst/"


def test_heredocs_are_attached_with_their_bodies() -> None:
    df = parse(
        "FROM busybox\n"
        "RUN <<EOF\necho one\necho two\nEOF\n"
        "COPY <<'A' <<-B /dst/\n$literal\nA\n\tstripped\n\tB\n"
        "CMD true\n"
    )
    run, copy, cmd = df.instructions[1:]
    assert run.heredocs[0].body == "echo one\necho two\n"
    assert run.heredocs[0].expand
    assert [h.name for h in copy.heredocs] == ["A", "B"]
    assert not copy.heredocs[0].expand
    assert copy.heredocs[1].body == "stripped\n"
    assert cmd.line == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM busybox\nFOO bar\n", "line 2: unknown instruction: FOO"),
        ("FROM busybox\nRUN <<EOF\necho\n", "line 2: unterminated heredoc 'EOF'"),
        ("FROM busybox\nSHELL sh -c\n", "line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM busybox\nCOPY --bad flag\n", "line 2"),
        ("FROM busybox\nENV\n", "line 2: ENV requires at least one argument"),
        ("# escape=x\nFROM busybox\n", "invalid escape token"),
    ],
)
def test_errors_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(InvalidArgument, match="dockerfile parse error") as info:
        parse(text)
    assert expected in str(info.value)
