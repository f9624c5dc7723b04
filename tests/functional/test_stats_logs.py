"""Stats of a real Arbiter's processes, and recent output / follow with real children, real
pipes and the real pumps (splice to file, framed console)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ringleader.api.schema import LogLine, StatsResponse
from ringleader.config.model import StreamConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.features.stats import StatsSampler
from ringleader.output.logbuffer import Follower, LogBuffer
from ringleader.output.streams import Pump, StreamHub, make_pipe
from ringleader.testing import python_cmd, run_async

# Copies its stdin to stdout as it comes: the test decides when (and what) output happens.
ECHO = "import os\nwhile data := os.read(0, 65536): os.write(1, data)"


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        if p.stdin is not None:
            p.stdin.close()


def pump_child(hub: StreamHub, procs: list[subprocess.Popen[bytes]], code: str,
               cfg: StreamConfig, *, watcher: str = "w", wid: int = 1,
               stdin: int | None = None) -> tuple[subprocess.Popen[bytes], Pump]:
    r, w = make_pipe()
    try:
        p = subprocess.Popen([sys.executable, "-c", code], stdout=w, stdin=stdin)
    finally:
        os.close(w)
    procs.append(p)
    pump = hub.open_pump(r, cfg, watcher=watcher, wid=wid, stream="stdout")
    pump.start()
    return p, pump


async def take(f: Follower, n: int) -> list[str]:
    return [(await anext(f))["line"] for _ in range(n)]


def test_stats_of_a_real_arbiters_processes() -> None:
    code = "import time\nwhile True: time.sleep(1000)"
    null = {"kind": "null"}

    async def body() -> None:
        async with Arbiter([{"name": "w", "cmd": python_cmd(code), "numprocesses": 2,
                             "stdout_stream": null, "stderr_stream": null}]) as arbiter:
            stats = await StatsSampler().collect(arbiter.watchers)
            resp = msgspec.convert(stats, StatsResponse)
            (w,) = resp.watchers
            assert sorted(p.pid for p in w.processes) == sorted(arbiter.pids("w"))
            assert [p.wid for p in w.processes] == [1, 2]
            assert all(p.rss > 0 and p.num_fds is not None for p in w.processes)
            assert w.rss == sum(p.rss for p in w.processes)

    run_async(body(), timeout=30)


def test_an_arbiters_recent_and_followed_output(tmp_path: Path) -> None:
    log = tmp_path / "file.log"
    cfd = os.open(tmp_path / "console", os.O_WRONLY | os.O_CREAT, 0o600)
    talk = python_cmd("import sys, time\nprint('one'); print('two', file=sys.stderr)\n"
                      "sys.stdout.flush(); time.sleep(600)")
    quiet = {"kind": "null"}

    async def body() -> None:
        arbiter = Arbiter([
            {"name": "con", "cmd": talk, "autostart": False,
             "stdout_stream": {"kind": "console", "color": False}},
            {"name": "file", "cmd": talk, "autostart": False, "numprocesses": 2,
             "stdout_stream": {"kind": "file", "filename": str(log)}, "stderr_stream": quiet},
        ], console_fd=cfd)
        async with arbiter:
            con, every = arbiter.follow_logs("con"), arbiter.follow_logs(None)
            await arbiter.start_watcher("con")
            assert sorted([(await anext(con)).line for _ in range(2)]) == ["one", "two"]
            await con.aclose()
            await arbiter.start_watcher("file")
            got = [await anext(every) for _ in range(4)]  # con: 2 lines; file: 2 x 1
            assert sorted((x.watcher, x.line) for x in got) == [
                ("con", "one"), ("con", "two"), ("file", "one"), ("file", "one")]
            await every.aclose()
            recent = arbiter.logs("con", 10).lines
            assert sorted((x.stream, x.line) for x in recent) == [
                ("stderr", "two"), ("stdout", "one")]
            assert [x.line for x in arbiter.logs("file", 10).lines] == ["one", "one"]

    try:
        run_async(body(), timeout=30)
    finally:
        os.close(cfd)


def test_console_lines_are_kept_with_their_process(
        tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    cfd = os.open(tmp_path / "console", os.O_WRONLY | os.O_CREAT, 0o600)
    code = "import sys\nfor i in range(2000): print('line', i)\nsys.stdout.write('tail')"

    async def body() -> None:
        buf = LogBuffer()
        hub = StreamHub(console_fd=cfd, logbuffer=buf)
        cfg = StreamConfig(kind="console", color=False)
        _, pump = pump_child(hub, children, code, cfg, watcher="web", wid=3)
        await pump.wait_closed()
        got = buf.recent("web", 3)
        assert [x["line"] for x in got] == ["line 1998", "line 1999", "tail"]
        assert [msgspec.convert(x, LogLine).wid for x in got] == [3, 3, 3]
        assert len(buf.recent(None, 5000)) == 1000  # the ring's bound
        await hub.aclose()

    try:
        run_async(body(), timeout=30)
    finally:
        os.close(cfd)
    assert (tmp_path / "console").read_bytes().endswith(b"web.3 | line 1999\nweb.3 | tail")


def test_null_output_has_nothing_to_show(children: list[subprocess.Popen[bytes]]) -> None:
    async def body() -> None:
        buf = LogBuffer()
        hub = StreamHub(logbuffer=buf)
        _, pump = pump_child(hub, children, "print('lost')", StreamConfig(kind="null"))
        await pump.wait_closed()
        assert buf.recent("w", 10) == [] and buf.recent(None, 10) == []
        await hub.aclose()

    run_async(body(), timeout=30)


def test_follow_a_file_sink_then_let_it_splice_again(
        tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    log = tmp_path / "out.log"

    async def body() -> None:
        buf = LogBuffer()
        hub = StreamHub(logbuffer=buf)
        proc, pump = pump_child(hub, children, ECHO, StreamConfig(kind="file",
                                filename=str(log)), stdin=subprocess.PIPE)
        assert proc.stdin is not None
        tap = pump._tap
        assert tap is not None and not tap.active  # spliced

        def say(data: bytes) -> None:
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.flush()

        say(b"before\nhalf ")
        # Last resort polling: nothing tells when a splice reached the file.
        while not log.exists() or log.read_bytes() != b"before\nhalf ":
            await _tick()
        assert [x["line"] for x in buf.recent("w", 10)] == ["before"]
        f = buf.follow("w")
        assert tap.active
        say(b"a line\n")
        say(b"followed\n")
        assert await take(f, 2) == ["half a line", "followed"]
        await f.aclose()
        assert not tap.active
        say(b"after\n")
        proc.stdin.close()
        await pump.wait_closed()
        await hub.aclose()
        assert [x["line"] for x in buf.recent("w", 10)] == [
            "before", "half a line", "followed", "after"]

    run_async(body(), timeout=30)
    assert log.read_bytes() == b"before\nhalf a line\nfollowed\nafter\n"


def test_a_followed_file_stays_byte_exact_and_a_slow_follower_drops(
        tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    log = tmp_path / "out.log"
    src = tmp_path / "src"
    src.write_bytes(b"".join(b"%07d %s\n" % (i, b"x" * (i % 200)) for i in range(100_000)))
    code = f"import shutil,sys; shutil.copyfileobj(open({str(src)!r},'rb'), sys.stdout.buffer)"

    async def body() -> list[dict[str, Any]]:
        buf = LogBuffer(follow_queue=100)
        hub = StreamHub(logbuffer=buf)
        f = buf.follow(None)  # followed from the start: the read/write path all along
        _, pump = pump_child(hub, children, code, StreamConfig(kind="file", filename=str(log)))
        await pump.wait_closed()
        await hub.aclose()
        got = [await anext(f) for _ in range(len(f._queue))]
        await f.aclose()
        return got

    got = run_async(body(), timeout=30)
    assert hashlib.sha256(log.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    assert [x["line"] for x in got[:3]] == ["0000000 ", "0000001 x", "0000002 xx"]
    assert len(got) == 101 and got[-1]["line"] == "[99900 lines dropped]"


async def _tick() -> None:
    await asyncio.sleep(0.005)
