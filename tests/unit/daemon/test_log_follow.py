"""Following a json-file log: woken by inotify writes, not by a timer; ends after the exit."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.api.backends import LogOptions
from wharf.daemon.inotify import FileWatcher
from wharf.daemon.logs import read_logs


def _line(text: str) -> bytes:
    return json.dumps({"log": text, "stream": "stdout", "time": "2026-01-01T00:00:00Z"}).encode()


def _follow_options() -> LogOptions:
    return LogOptions(follow=True, stdout=True, stderr=True, tail=-1)


def test_idle_follower_sleeps_until_a_write_then_ends_at_exit(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(_line("old\n") + b"\n")
    checks = 0

    async def main() -> list[bytes]:
        nonlocal checks
        watcher = FileWatcher()
        exited = asyncio.Event()
        alive = True

        def running() -> bool:
            nonlocal checks
            checks += 1
            return alive

        got: list[bytes] = []

        async def follow() -> None:
            async for chunk in read_logs(
                log, _follow_options(), tty=True, running=running, watcher=watcher, exited=exited
            ):
                got.append(chunk)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.5)  # idle: a 50 ms poll would have checked ~10 times
        assert got == [b"old\n"]
        assert checks == 1
        with open(log, "ab") as f:
            # A torn write: the half line waits for its end.
            f.write(_line("new\n")[:10])
            f.flush()
            await asyncio.sleep(0.1)
            assert got == [b"old\n"]
            f.write(_line("new\n")[10:] + b"\n")
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        assert got[1] == b"new\n"
        assert watcher.watched == 1
        with open(log, "ab") as f:
            f.write(_line("last words\n") + b"\n")
        alive = False
        exited.set()
        await asyncio.wait_for(task, 5)
        assert watcher.watched == 0  # the follower's watch is gone with it
        watcher.close()
        return got

    assert asyncio.run(main()) == [b"old\n", b"new\n", b"last words\n"]


def test_two_followers_share_one_watch_and_a_cancelled_one_lets_go(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(b"")

    async def main() -> None:
        watcher = FileWatcher()
        exited = asyncio.Event()
        got: dict[int, list[bytes]] = {0: [], 1: []}

        async def follow(n: int) -> None:
            async for chunk in read_logs(
                log,
                _follow_options(),
                tty=True,
                running=lambda: not exited.is_set(),
                watcher=watcher,
                exited=exited,
            ):
                got[n].append(chunk)

        tasks = [asyncio.create_task(follow(n)) for n in (0, 1)]
        await asyncio.sleep(0.1)
        assert watcher.watched == 1
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        assert watcher.watched == 1
        with open(log, "ab") as f:
            f.write(_line("x\n") + b"\n")
        for _ in range(100):
            if got[1]:
                break
            await asyncio.sleep(0.01)
        assert got == {0: [], 1: [b"x\n"]}
        exited.set()
        await asyncio.wait_for(tasks[1], 5)
        assert watcher.watched == 0
        watcher.close()

    asyncio.run(main())


def test_a_deleted_log_falls_back_to_polling_and_the_exit_still_ends_it(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_bytes(b"")

    async def main() -> None:
        watcher = FileWatcher()
        subscription = watcher.subscribe(str(log))
        assert not subscription.polling
        os.unlink(log)
        await asyncio.wait_for(subscription.wait(), 5)  # the deletion wakes it
        assert subscription.polling  # nothing more will come from inotify for this file
        assert watcher.watched == 0
        subscription.close()
        missing = watcher.subscribe(str(tmp_path / "never-there"))
        assert missing.polling
        missing.close()
        watcher.close()

    asyncio.run(main())


def _read_all(log: Path, tail: int) -> list[bytes]:
    async def main() -> list[bytes]:
        options = LogOptions(follow=False, stdout=True, stderr=True, tail=tail)
        return [
            chunk
            async for chunk in read_logs(
                log, options, tty=True, running=lambda: False, watcher=FileWatcher()
            )
        ]

    return asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), min_size=1, max_size=4),
    tail=st.integers(-1, 30),
    torn=st.booleans(),
)
def test_rotated_files_and_tail_read_in_small_chunks(
    sizes: list[int], tail: int, torn: bool
) -> None:
    # Files oldest first: log.N ... log.1, then log; 7-byte chunks cut entries anywhere.
    with tempfile.TemporaryDirectory() as d, mock.patch("wharf.daemon.logs._CHUNK", 7):
        log = Path(d) / "c-json.log"
        texts, n = [], 0
        for i, size in enumerate(sizes):
            name = log if i == len(sizes) - 1 else log.with_name(f"{log.name}.{len(sizes) - 1 - i}")
            body = b""
            for _ in range(size):
                texts.append(f"entry-{n}\n".encode())
                body += _line(f"entry-{n}\n") + b"\n"
                n += 1
            name.write_bytes(body + (_line("torn")[:9] if torn and name == log else b""))
        got = _read_all(log, tail)
        expected = texts if tail < 0 else texts[len(texts) - tail :] if tail else []
        assert got == expected
