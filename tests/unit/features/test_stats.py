"""StatsSampler against real processes: CPU, memory, fds and descendants."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from ringleader.api.schema import StatsResponse
from ringleader.features.stats import StatsSampler
from ringleader.testing import run_async

MB = 1 << 20
Start = Callable[[str], subprocess.Popen[bytes]]


@dataclass
class FakeProcess:
    wid: int
    pid: int | None
    restarts: int = 0
    is_alive: bool = True
    exit_history: list[int] = field(default_factory=list)

    def uptime(self) -> float:
        return 1.5


@dataclass
class FakeWatcher:
    name: str
    processes: dict[int, FakeProcess]


def watcher(name: str, *pids: int | None) -> FakeWatcher:
    return FakeWatcher(name, {i: FakeProcess(i, pid) for i, pid in enumerate(pids, 1)})


@pytest.fixture
def start() -> Iterator[Start]:
    """``python -c CODE`` in its own session; returns once it printed 'ready'. The whole
    process group is killed and reaped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def _start(code: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             start_new_session=True)
        procs.append(p)
        assert p.stdout is not None
        ready, _, _ = select.select([p.stdout], [], [], 10)
        assert ready and p.stdout.readline() == b"ready\n", "child did not get ready in 10 s"
        return p

    yield _start
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        assert p.stdout is not None
        p.stdout.close()


def collect(sampler: StatsSampler, *watchers: FakeWatcher, **kw: Any) -> dict[str, Any]:
    return run_async(sampler.collect(watchers, **kw), timeout=20)


def only_process(stats: dict[str, Any]) -> dict[str, Any]:
    (w,) = stats["watchers"]
    (p,) = w["processes"]
    return p  # type: ignore[no-any-return]


READY = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
SLEEP = "import time\nwhile True: time.sleep(1000)\n"


def test_cpu_of_a_burner_and_an_idle_sleeper(start: Start) -> None:
    burner = start(READY + "while True: pass\n")
    sleeper = start(READY + SLEEP)
    sampler = StatsSampler()
    w = watcher("w", burner.pid, sleeper.pid)

    async def body() -> dict[str, Any]:
        # The first call samples twice 0.1 s apart; a busy box may not have scheduled the
        # burner then, so look again (each call is a fresh delta) until the deadline.
        while True:
            stats = await sampler.collect([w])
            if stats["watchers"][0]["processes"][0]["cpu_percent"] > 50:
                return stats
            await asyncio.sleep(0.1)  # the CPU measuring interval

    stats = run_async(body(), timeout=20)
    burn, idle = stats["watchers"][0]["processes"]
    assert (burn["pid"], idle["pid"]) == (burner.pid, sleeper.pid)
    assert idle["cpu_percent"] < 5
    assert stats["watchers"][0]["cpu_percent"] >= burn["cpu_percent"]


def test_rss_and_uss_of_a_100mb_process(start: Start) -> None:
    # Filled with 1s: every page is touched, so it is resident.
    p = start(f"x = bytearray(b'\\x01') * {100 * MB}\n" + READY + SLEEP)
    stats = collect(StatsSampler(), watcher("big", p.pid))
    proc = only_process(stats)
    assert proc["rss"] > 100 * MB
    assert proc["uss"] is not None and proc["uss"] > 100 * MB
    assert stats["watchers"][0]["rss"] == proc["rss"]


def test_descendants_are_counted_and_their_memory_included(start: Start) -> None:
    kid = f"import sys, time; x = bytearray(b'\\x01') * {40 * MB}; print('k', flush=True); " \
          "time.sleep(1000)"
    parent = start(
        "import subprocess, sys\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', {kid!r}], stdout=subprocess.PIPE)"
        " for _ in range(3)]\n"
        "for k in kids: k.stdout.readline()\n" + READY + SLEEP)
    proc = only_process(collect(StatsSampler(uss=False), watcher("tree", parent.pid)))
    assert proc["num_children"] == 3
    assert proc["rss"] > 120 * MB
    assert proc["uss"] is None  # not asked for


def test_num_fds_counts_open_files(start: Start) -> None:
    p = start("fs = [open('/dev/null') for _ in range(50)]\n" + READY + SLEEP)
    assert only_process(collect(StatsSampler(), watcher("fds", p.pid)))["num_fds"] >= 50


def test_vanished_and_dead_processes_are_left_out(start: Start) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = start(READY + SLEEP)
    w = watcher("w", gone.pid, live.pid, None)
    w.processes[2].restarts = 4
    w.processes[2].exit_history = [1, -9]
    w.processes[4] = FakeProcess(4, live.pid, is_alive=False)  # a stopped slot's stale pid
    stats = collect(StatsSampler(), w)
    (proc,) = stats["watchers"][0]["processes"]
    assert (proc["wid"], proc["pid"], proc["restarts"], proc["exit_history"], proc["age"]) == (
        2, live.pid, 4, [1, -9], 1.5)
    msgspec.convert(stats, StatsResponse)  # exactly the API's shape


def test_only_one_watcher_and_an_empty_one(start: Start) -> None:
    a = start(READY + SLEEP)
    stats = collect(StatsSampler(), watcher("a", a.pid), watcher("b"), only="b")
    assert stats["watchers"] == [{"name": "b", "cpu_percent": 0, "rss": 0, "processes": []}]
    resp = msgspec.convert(stats, StatsResponse)
    assert resp.watchers[0].name == "b"


def test_repeated_samples_reuse_the_cache_and_a_reused_pid_starts_over(start: Start) -> None:
    p = start(READY + SLEEP)
    sampler = StatsSampler()
    w = watcher("w", p.pid)

    async def body() -> None:
        await sampler.collect([w])
        first = sampler._cache[p.pid]
        await sampler.collect([w])
        assert sampler._cache[p.pid] is first  # no second priming pass needed
        first.create_time -= 1  # as if the pid now belonged to another process
        await sampler.collect([w])
        assert sampler._cache[p.pid] is not first

    run_async(body(), timeout=20)


def test_importing_the_sampler_does_not_import_psutil() -> None:
    code = "import sys, ringleader.features.stats; sys.exit('psutil' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
