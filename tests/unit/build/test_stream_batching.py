"""The build stream joins the lines already waiting into one message, never across a
``Step N/M`` header, and loses no text."""

from __future__ import annotations

import asyncio

from wharf.daemon.build import _batched


def _drain(items: list[str | None]) -> list[str]:
    async def run() -> list[str]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        return [text async for text in _batched(queue)]

    return asyncio.run(run())


def test_waiting_lines_are_joined_up_to_the_next_step() -> None:
    items: list[str | None] = [
        "Step 1/2 : FROM busybox\n",
        " ---> a81b38221113\n",
        "Step 2/2 : RUN echo hi\n",
        " ---> Using cache\n",
        " ---> 0123456789ab\n",
        None,
        "after the end\n",
    ]
    assert _drain(items) == [
        "Step 1/2 : FROM busybox\n",
        " ---> a81b38221113\n",
        "Step 2/2 : RUN echo hi\n",
        " ---> Using cache\n ---> 0123456789ab\n",
    ]


def test_a_header_right_after_a_header_and_the_end_right_after_text() -> None:
    items: list[str | None] = ["Step 1/2 : ARG A\n", "Step 2/2 : ARG B\n", "out\n", None]
    assert _drain(items) == ["Step 1/2 : ARG A\n", "Step 2/2 : ARG B\n", "out\n"]
    assert _drain([None]) == []
