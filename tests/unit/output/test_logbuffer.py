"""LogBuffer: line cutting, bounds, file tails and followers (no processes)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import msgspec

from ringleader.api.schema import LogLine
from ringleader.output.logbuffer import Follower, LogBuffer
from ringleader.testing import run_async


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def lines(items: list[dict[str, Any]]) -> list[str]:
    return [x["line"] for x in items]


def test_lines_cut_across_chunks_and_decoded_with_replacement() -> None:
    buf = LogBuffer(clock=Clock())
    tap = buf.tap("web", 2, "stdout")
    for chunk in (b"hel", b"lo\nwor", b"ld\n\nbad \xff\xfe\nno newline"):
        tap.feed(chunk)
    assert lines(buf.recent("web", 10)) == ["hello", "world", "", "bad \ufffd\ufffd"]
    tap.close()  # the unfinished line counts at EOF
    got = buf.recent("web", 10)
    assert lines(got)[-1] == "no newline"
    first = msgspec.convert(got[0], LogLine)
    assert (first.watcher, first.wid, first.stream, first.at) == ("web", 2, "stdout", 1001.0)


def test_ring_bounded_by_lines_and_bytes_long_lines_cut() -> None:
    buf = LogBuffer(max_lines=5, max_bytes=100, max_line=8)
    tap = buf.tap("w", 1, "stderr")
    tap.feed(b"".join(b"%d\n" % i for i in range(20)))
    assert lines(buf.recent("w", 100)) == ["15", "16", "17", "18", "19"]
    tap.feed(b"x" * 30 + b"\n" + b"y" * 5)
    tap.feed(b"y" * 50 + b"\nz\n")  # a long line held across chunks is cut too
    assert lines(buf.recent("w", 3)) == ["x" * 8, "y" * 8, "z"]
    big = LogBuffer(max_lines=1000, max_bytes=30)
    t2 = big.tap("w", 1, "stdout")
    t2.feed(b"".join(b"%09d\n" % i for i in range(10)))  # 9 bytes each: 3 fit in 30
    assert lines(big.recent("w", 100)) == ["000000007", "000000008", "000000009"]


def test_recent_merges_watchers_in_time_order_and_takes_the_last_n() -> None:
    buf = LogBuffer(clock=Clock())
    a, b = buf.tap("a", 1, "stdout"), buf.tap("b", 1, "stdout")
    a.feed(b"a1\n")
    b.feed(b"b1\n")
    a.feed(b"a2\n")
    assert lines(buf.recent(None, 10)) == ["a1", "b1", "a2"]
    assert lines(buf.recent(None, 2)) == ["b1", "a2"]
    assert lines(buf.recent("a", 10)) == ["a1", "a2"]
    assert buf.recent("nope", 10) == [] and buf.recent("a", 0) == []
    buf.forget("a")
    assert lines(buf.recent(None, 10)) == ["b1"]


def test_file_lines_come_from_the_tail_of_the_file(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    buf = LogBuffer(max_bytes=64)
    one = buf.tap("solo", 3, "stdout", path=str(log))
    assert not one.active  # spliced: nothing passes through Python
    assert buf.recent("solo", 5) == []  # not written yet
    log.write_bytes(b"".join(b"line %03d\n" % i for i in range(100)) + b"partial")
    got = buf.recent("solo", 3)
    assert lines(got) == ["line 097", "line 098", "line 099"]
    assert {(x["wid"], x["stream"]) for x in got} == {(3, "stdout")}
    # only 64 bytes are read: the first, cut line is left out
    assert lines(buf.recent("solo", 100)) == [f"line {i:03d}" for i in range(94, 100)]
    buf.tap("solo", 4, "stdout", path=str(log))
    assert {x["wid"] for x in buf.recent("solo", 3)} == {0}  # shared: no single writer
    one.close()
    assert len(buf.recent("solo", 3)) == 3  # still known once its pumps ended


def test_following_turns_file_taps_on_and_recovers_the_current_line(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"old\nhalf a ")
    buf = LogBuffer()
    tap = buf.tap("w", 1, "stdout", path=str(log))
    other = buf.tap("x", 1, "stdout", path=str(tmp_path / "x.log"))

    async def body() -> None:
        f = buf.follow("w")
        assert tap.active and not other.active
        tap.feed(b"line\nnext\n")
        assert [x["line"] async for x in _take(f, 2)] == ["half a line", "next"]
        await f.aclose()
        assert not tap.active
        assert [x async for x in f] == []
        everyone = buf.follow(None)
        assert tap.active and other.active
        del everyone
        gc.collect()
        assert not tap.active and not other.active  # a forgotten follower lets go too

    run_async(body(), timeout=10)
    assert lines(buf.recent("w", 10)) == ["old"]  # followed file lines are not kept twice


async def _take(f: Follower, n: int) -> Any:
    for _ in range(n):
        yield await anext(f)


def test_a_slow_follower_gets_a_dropped_marker_and_bounded_memory() -> None:
    buf = LogBuffer(follow_queue=3)
    tap = buf.tap("w", 1, "stdout")

    async def body() -> list[str]:
        f = buf.follow("w")
        tap.feed(b"".join(b"%d\n" % i for i in range(10)))
        tap.feed(b"10\n11\n")
        assert len(f._queue) == 4  # 3 lines + one marker
        got = [x["line"] async for x in _take(f, 4)]
        tap.feed(b"12\n")
        got += [x["line"] async for x in _take(f, 1)]
        return got

    assert run_async(body(), timeout=10) == ["0", "1", "2", "[9 lines dropped]", "12"]


def test_a_follower_waits_for_new_lines() -> None:
    buf = LogBuffer()
    tap = buf.tap("w", 1, "stdout")

    async def body() -> None:
        f = buf.follow(None)
        task = asyncio.create_task(anext(f))
        await asyncio.sleep(0)  # let it block on the empty queue
        assert not task.done()
        tap.feed(b"hi\n")
        assert (await task)["line"] == "hi"
        waiting = asyncio.create_task(anext(f))
        await asyncio.sleep(0)
        f.close()
        try:
            await waiting
        except StopAsyncIteration:
            pass
        else:
            raise AssertionError("a closed follower ends")

    run_async(body(), timeout=10)


def test_recent_filtered_by_stream_slot_and_time_counts_only_kept_lines() -> None:
    from ringleader.output.logbuffer import LineFilter

    buf = LogBuffer(clock=Clock())  # 1001, 1002, ... one tick per block
    out1, err1, out2 = buf.tap("w", 1, "stdout"), buf.tap("w", 1, "stderr"), \
        buf.tap("w", 2, "stdout")
    for i in range(3):
        out1.feed(b"o1-%d\n" % i)
        err1.feed(b"e1-%d\n" % i)
        out2.feed(b"o2-%d\n" % i)
    assert lines(buf.recent("w", 2, LineFilter(stream="stderr"))) == ["e1-1", "e1-2"]
    assert lines(buf.recent("w", 10, LineFilter(wid=2))) == ["o2-0", "o2-1", "o2-2"]
    assert lines(buf.recent("w", 10, LineFilter(stream="stdout", wid=1))) == [
        "o1-0", "o1-1", "o1-2"]
    # blocks at 1001..1009: from 1007 on
    assert lines(buf.recent("w", 10, LineFilter(since=1007))) == ["o1-2", "e1-2", "o2-2"]
    assert lines(buf.recent("w", 10, LineFilter(since=2000))) == []
    assert buf.recent("w", 10, LineFilter(wid=3)) == []
    keep = LineFilter(stream="stderr", since=1005)
    assert keep.keeps_line({"at": 1005.0, "wid": 1, "stream": "stderr", "line": "x"})
    assert not keep.keeps_line({"at": 1004.0, "wid": 1, "stream": "stderr", "line": "x"})


def test_file_lines_filtered_by_the_file_s_stream_and_mtime(tmp_path: Path) -> None:
    import os

    from ringleader.output.logbuffer import LineFilter

    path = tmp_path / "w.err"
    path.write_bytes(b"one\ntwo\n")
    os.utime(path, (1500.0, 1500.0))
    buf = LogBuffer()
    buf.tap("w", 1, "stderr", path=str(path)).close()
    assert lines(buf.recent("w", 10, LineFilter(stream="stderr"))) == ["one", "two"]
    assert buf.recent("w", 10, LineFilter(stream="stdout")) == []
    assert lines(buf.recent("w", 10, LineFilter(since=1500))) == ["one", "two"]
    assert buf.recent("w", 10, LineFilter(since=1501)) == []
