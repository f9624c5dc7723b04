"""Output capture with real child processes, real pipes and a real event loop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import stat
import subprocess
import sys
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.model import StreamConfig
from ringleader.output.streams import Pump, StreamHub, make_pipe

Spawn = Callable[..., subprocess.Popen[bytes]]

# Writes its stdin lines back to stdout one by one: lets a test decide when output happens.
ECHO = "import sys\nfor line in sys.stdin.buffer:\n sys.stdout.buffer.write(line)\n" \
       " sys.stdout.buffer.flush()"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start ``python -c CODE`` with stdout on a pipe write end (closed here after the spawn);
    every child is killed and reaped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def _spawn(code: str, *, stdout: int, **kw: Any) -> subprocess.Popen[bytes]:
        try:
            p = subprocess.Popen([sys.executable, "-c", code], stdout=stdout, **kw)
        finally:
            os.close(stdout)
        procs.append(p)
        return p

    yield _spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                f.close()


def run(body: Callable[[], Awaitable[None]], deadline: float = 30) -> None:
    async def main() -> None:
        async with asyncio.timeout(deadline):  # a safety net, not a way to synchronise
            await body()

    asyncio.run(main())


async def until(cond: Callable[[], bool]) -> None:
    """Last-resort condition polling (the callers' asyncio.timeout bounds it)."""
    while not cond():
        await asyncio.sleep(0.005)


def read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def pump_child(hub: StreamHub, spawn: Spawn, code: str, cfg: StreamConfig, *, wid: int = 1,
               watcher: str = "w", **kw: Any) -> tuple[subprocess.Popen[bytes], Pump]:
    r, w = make_pipe()
    proc = spawn(code, stdout=w, **kw)
    pump = hub.open_pump(r, cfg, watcher=watcher, wid=wid, stream="stdout")
    pump.start()
    return proc, pump


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "read-write"])
def test_50mb_reach_the_file_byte_for_byte(
        tmp_path: Path, spawn: Spawn, splice: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not splice:
        monkeypatch.delattr(os, "splice", raising=False)
    src, log = tmp_path / "src.bin", tmp_path / "logs" / "out.log"  # logs/ is created
    src.write_bytes(os.urandom(50 << 20))
    code = f"import shutil,sys; shutil.copyfileobj(open({str(src)!r},'rb'), sys.stdout.buffer)"

    async def body() -> None:
        hub = StreamHub()
        proc, pump = pump_child(hub, spawn, code, StreamConfig(kind="file", filename=str(log)))
        await pump.wait_closed()  # drained to EOF after the child exited
        assert pump.closed and proc.wait() == 0
        await hub.aclose()

    run(body)
    assert hashlib.sha256(read(log)).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_console_prefix_binary_and_a_5mb_line_with_bounded_memory(
        tmp_path: Path, spawn: Spawn) -> None:
    console = tmp_path / "console"
    big = b"L" * (5 << 20)
    code = ("import sys,os; o=sys.stdout.buffer; o.write(b'bin\\x00\\xff\\xfe\\n'); "
            f"o.write(b'L' * {len(big)} + b'\\n'); o.write(b'no newline'); o.flush(); "
            "os.write(2, b'err line\\n')")
    cfd = os.open(console, os.O_WRONLY | os.O_CREAT, 0o600)

    async def body() -> None:
        hub = StreamHub(console_fd=cfd)
        cfg = StreamConfig(kind="console", color=False)
        er, ew = make_pipe()
        tracemalloc.start()
        try:
            proc, out = pump_child(hub, spawn, code, cfg, stderr=ew)
            os.close(ew)
            err = hub.open_pump(er, cfg, watcher="w", wid=1, stream="stderr")
            err.start()
            await out.wait_closed()
            await err.wait_closed()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, f"pump memory peaked at {peak} bytes"
        assert proc.wait() == 0
        await hub.aclose()

    try:
        run(body)
    finally:
        os.close(cfd)
    data = read(console)
    assert data.replace(b"w.1 | err line\n", b"", 1) == (
        b"w.1 | bin\x00\xff\xfe\nw.1 | " + big + b"\nw.1 | no newline")


def test_console_colour_and_partial_line_shows_without_newline(
        tmp_path: Path, spawn: Spawn) -> None:
    console = tmp_path / "console"
    cfd = os.open(console, os.O_WRONLY | os.O_CREAT, 0o600)

    async def body() -> None:
        hub = StreamHub(console_fd=cfd)
        proc, pump = pump_child(
            hub, spawn, "import sys; sys.stdout.write('prompt> '); sys.stdout.flush(); "
            "sys.stdin.read()", StreamConfig(kind="console", color=True), watcher="web",
            wid=2, stdin=subprocess.PIPE)
        await until(lambda: read(console).endswith(b"prompt> "))  # flushed after a short delay
        assert proc.stdin is not None
        proc.stdin.close()
        await pump.wait_closed()
        await hub.aclose()

    try:
        run(body)
    finally:
        os.close(cfd)
    assert re.fullmatch(rb"\x1b\[[0-9;]+mweb\.2 \|\x1b\[0m prompt> ", read(console))


def _lines_code(tag: str, n: int, width: int = 1) -> str:
    # Block-buffered writes of 8 KiB: lines are cut across pipe reads.
    return (f"import sys\nfor i in range({n}): "
            f"sys.stdout.write('{tag} %06d ' % i + 'x' * (i % 97) * {width} + '\\n')")


def _check_lines(lines: list[bytes], tag: bytes, n: int, width: int = 1) -> None:
    mine = [x for x in lines if x.startswith(tag + b" ")]
    assert mine == [b"%s %06d %s" % (tag, i, b"x" * (i % 97) * width) for i in range(n)]


def test_two_processes_share_the_console_line_by_line(tmp_path: Path, spawn: Spawn) -> None:
    console = tmp_path / "console"
    cfd = os.open(console, os.O_WRONLY | os.O_CREAT, 0o600)

    async def body() -> None:
        hub = StreamHub(console_fd=cfd)
        cfg = StreamConfig(kind="console", color=False)
        pumps = [pump_child(hub, spawn, _lines_code(t, 20000), cfg, wid=i)[1]
                 for i, t in ((1, "A"), (2, "B"))]
        for p in pumps:
            await p.wait_closed()
        await hub.aclose()

    try:
        run(body)
    finally:
        os.close(cfd)
    lines = read(console).split(b"\n")
    assert lines.pop() == b""
    for prefix, tag in ((b"w.1 | ", b"A"), (b"w.2 | ", b"B")):
        _check_lines([x[len(prefix):] for x in lines if x.startswith(prefix)], tag, 20000)
    assert all(x.startswith((b"w.1 | ", b"w.2 | ")) for x in lines)


def test_two_processes_share_one_file_and_lose_nothing(tmp_path: Path, spawn: Spawn) -> None:
    log = tmp_path / "shared.log"

    async def body() -> None:
        hub = StreamHub()
        cfg = StreamConfig(kind="file", filename=str(log))
        pumps = [pump_child(hub, spawn, _lines_code(t, 100_000), cfg, wid=i)[1]
                 for i, t in ((1, "A"), (2, "B"))]
        for p in pumps:
            await p.wait_closed()
        await hub.aclose()

    run(body)
    lines = read(log).split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == 200_000  # no line cut by the other process's
    _check_lines(lines, b"A", 100_000)
    _check_lines(lines, b"B", 100_000)


@pytest.mark.parametrize("total", [350_000, 900_000])
def test_size_rotation_keeps_whole_lines_and_backup_count(
        tmp_path: Path, spawn: Spawn, total: int) -> None:
    log = tmp_path / "app.log"
    code = ("import random,sys\nr=random.Random(1)\nn=0\n"
            f"while n < {total}:\n l=b'%d ' % n + b'y' * r.randrange(20, 200) + b'\\n'\n"
            " sys.stdout.buffer.write(l); n += len(l)")
    expected = subprocess.run([sys.executable, "-c", code], capture_output=True,
                              check=True).stdout

    async def body() -> None:
        hub = StreamHub()
        cfg = StreamConfig(kind="file", filename=str(log), max_bytes=100_000, backup_count=3)
        await pump_child(hub, spawn, code, cfg)[1].wait_closed()
        await hub.aclose()

    run(body)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    parts = [read(tmp_path / n) for n in ("app.log.3", "app.log.2", "app.log.1", "app.log")]
    assert all(len(p) <= 100_000 and p.endswith(b"\n") for p in parts)
    joined = b"".join(parts)
    if total < 4 * 99_800:
        assert joined == expected
    else:  # the oldest went away with the rotations, whole lines at a time
        assert expected.endswith(joined) and expected[-len(joined) - 1 : -len(joined)] == b"\n"


def test_time_rotation_follows_the_injected_clock(tmp_path: Path, spawn: Spawn) -> None:
    log = tmp_path / "t.log"
    clock = FakeClock(1_700_000_000.0)  # 2023-11-14 22:13:20 UTC

    async def body() -> None:
        hub = StreamHub(clock=clock)
        cfg = StreamConfig(kind="file", filename=str(log), rotate_when="H", utc=True)
        proc, pump = pump_child(hub, spawn, ECHO, cfg, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(b"first\n")
        proc.stdin.flush()
        await until(lambda: read(log) == b"first\n")
        clock.now += 3600
        proc.stdin.write(b"second\n")
        proc.stdin.close()
        await pump.wait_closed()
        await hub.aclose()

    run(body)
    assert read(log) == b"second\n"
    assert read(tmp_path / "t.log.2023-11-14_22") == b"first\n"


def test_deleted_or_moved_log_is_recreated(tmp_path: Path, spawn: Spawn) -> None:
    log = tmp_path / "d" / "x.log"
    clock = FakeClock(1_700_000_000.0)

    async def body() -> None:
        hub = StreamHub(clock=clock)
        cfg = StreamConfig(kind="file", filename=str(log), time_format="%H:%M", utc=True)
        proc, pump = pump_child(hub, spawn, ECHO, cfg, stdin=subprocess.PIPE)
        assert proc.stdin is not None

        async def say(line: bytes) -> None:
            assert proc.stdin is not None
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
            await until(lambda: read(log).endswith(b"22:13 " + line + b"\n"))

        await say(b"one")
        log.unlink()
        clock.now += 1.5  # the path is checked at most once per second
        await say(b"two")
        assert read(log) == b"22:13 two\n"
        log.rename(tmp_path / "moved.log")
        log.parent.rmdir()  # the directory goes too: it is created again
        clock.now += 1.5
        await say(b"three")
        proc.stdin.close()
        await pump.wait_closed()
        await hub.aclose()

    run(body)
    assert read(log) == b"22:13 three\n"
    assert read(tmp_path / "moved.log") == b"22:13 two\n"


def test_full_console_pipe_pauses_the_child_not_the_loop(tmp_path: Path, spawn: Spawn) -> None:
    cr, cw = os.pipe()
    os.set_blocking(cw, False)
    os.set_blocking(cr, False)
    n = 3000

    async def body() -> None:
        loop = asyncio.get_running_loop()
        hub = StreamHub(console_fd=cw)
        proc, pump = pump_child(hub, spawn, _lines_code("C", n, 20),
                                StreamConfig(kind="console", color=False))
        await until(lambda: _blocked_on_pipe(proc.pid))  # blocked on its own pipe
        got = bytearray()
        loop.add_reader(cr, lambda: got.extend(os.read(cr, 1 << 16)))
        await pump.wait_closed()
        loop.remove_reader(cr)
        while chunk := _read_nb(cr):
            got.extend(chunk)
        assert proc.wait() == 0
        await hub.aclose()
        lines = bytes(got).split(b"\n")
        assert lines.pop() == b""
        assert all(x.startswith(b"w.1 | ") for x in lines)
        _check_lines([x[6:] for x in lines], b"C", n, 20)

    try:
        run(body)
    finally:
        os.close(cr)
        os.close(cw)


def test_close_takes_what_the_pipe_holds(tmp_path: Path, spawn: Spawn) -> None:
    log = tmp_path / "c.log"
    code = ("import sys; sys.stdout.buffer.write(b'z' * 300000); sys.stdout.flush(); "
            "sys.stderr.write('ready\\n'); sys.stderr.flush(); sys.stdin.read()")

    async def body() -> None:
        hub = StreamHub()
        r, w = make_pipe()
        proc = spawn(code, stdout=w, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        pump = hub.open_pump(r, StreamConfig(kind="file", filename=str(log)), watcher="w",
                             wid=1, stream="stdout")
        assert proc.stderr is not None and proc.stdin is not None
        assert proc.stderr.readline() == b"ready\n"  # the data is in the pipe now
        pump.close()  # the child still holds the pipe open: no EOF will come
        await pump.wait_closed()
        assert pump.closed
        proc.stdin.close()
        assert proc.wait() == 0
        await hub.aclose()

    run(body)
    assert read(log) == b"z" * 300000


def test_null_stream_discards(spawn: Spawn) -> None:
    async def body() -> None:
        hub = StreamHub()
        _, pump = pump_child(hub, spawn, "print('x' * 100000)", StreamConfig(kind="null"))
        await pump.wait_closed()
        await hub.aclose()

    run(body)


def _blocked_on_pipe(pid: int) -> bool:
    with open(f"/proc/{pid}/wchan") as f:
        return "pipe_write" in f.read()  # pipe_write, or anon_pipe_write on Linux >= 6.x


def _read_nb(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, to fill for real (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


@pytest.mark.parametrize("time_format", [None, "%Y"], ids=["raw", "timestamped"])
def test_disk_full_blocks_the_child_loses_nothing_and_recovers(
        tiny_fs: Path, tmp_path: Path, spawn: Spawn, caplog: pytest.LogCaptureFixture,
        time_format: str | None) -> None:
    caplog.set_level(logging.INFO, logger="ringleader.streams")
    log, filler = tiny_fs / "logs" / "full.log", tiny_fs / "filler"
    src = tmp_path / "src"
    # Lines of random text: more than the pipe holds, so the child must block.
    src.write_bytes(b"".join(os.urandom(40).hex().encode() + b"\n" for _ in range(30000)))
    code = f"import shutil,sys; shutil.copyfileobj(open({str(src)!r},'rb'), sys.stdout.buffer)"

    def messages() -> str:
        return "\n".join(r.getMessage() for r in caplog.records)

    async def body() -> None:
        hub = StreamHub(clock=lambda: 1_700_000_000.0)
        (tiny_fs / "logs").mkdir()
        _fill(filler)
        cfg = StreamConfig(kind="file", filename=str(log), time_format=time_format, utc=True)
        proc, pump = pump_child(hub, spawn, code, cfg)
        await until(lambda: "No space left on device" in messages())
        await until(lambda: _blocked_on_pipe(proc.pid))  # backpressure on the child
        assert not pump.closed and proc.poll() is None
        assert messages().count("cannot write") == 1  # reported once, not per retry
        filler.unlink()
        await pump.wait_closed()  # the retry timer resumed it
        assert proc.wait() == 0
        assert "writable again" in messages()
        await hub.aclose()

    run(body)
    data = read(log)
    if time_format:
        assert data.startswith(b"2023 ")
        data = data.replace(b"\n2023 ", b"\n")[5:]
    assert hashlib.sha256(data).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_fifo_as_log_file_pauses_the_stream_and_loses_nothing(
        tmp_path: Path, spawn: Spawn, caplog: pytest.LogCaptureFixture) -> None:
    """The open never blocks the loop; the FIFO is one error naming it; the output waits in
    the pipe and reaches the file once the path is a file the controller may write (made
    0600, in a folder made 0700)."""
    caplog.set_level(logging.INFO)
    log = tmp_path / "logs" / "out.log"
    log.parent.mkdir()
    os.mkfifo(log)

    def messages() -> str:
        return "\n".join(r.getMessage() for r in caplog.records)

    async def body() -> None:
        hub = StreamHub()
        cfg = StreamConfig(kind="file", filename=str(log))
        proc, pump = pump_child(hub, spawn, "print('one'); print('two')", cfg)
        await until(lambda: f"cannot write {log}: a FIFO (named pipe)" in messages())
        assert proc.wait() == 0 and not pump.closed  # the lines wait in the pipe
        log.unlink()
        log.parent.rmdir()
        await pump.wait_closed()  # the retry made the folder and the file
        assert "writable again" in messages()
        await hub.aclose()

    run(body)
    assert read(log) == b"one\ntwo\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert messages().count("cannot write") == 1
