"""Auto-scaling through the engine, with real processes: a watcher with an `autoscale`
table is scaled by the driver the watcher itself runs while it is active (busy workers
grow it, idle ones shrink it); `set` adds or removes the table at runtime."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.features.drivers.autoscale import AutoscaleDriver
from ringleader.features.stats import StatsSampler
from ringleader.lifecycle.events import WatcherChanged
from ringleader.testing import EventRecorder, pid_exists, python_cmd
from ringleader.testing import run_async as run

BURN = python_cmd("while True: pass")
NULL = {"kind": "null"}
# Small timings; a low busy threshold because the test machine may have 2 cores shared
# with other tests: 3 burners there get ~60% each, never 80.
FAST: dict[str, Any] = dict(min=1, max=3, grow_after=1, cooldown=1, interval=0.3,
                            grow_above=20, shrink_below=10, shrink_after=1)


def watcher(name: str, cmd: str, n: int, **autoscale: Any) -> dict[str, Any]:
    return {"name": name, "cmd": cmd, "numprocesses": n, "stdout_stream": NULL,
            "stderr_stream": NULL, "autoscale": {**FAST, **autoscale}}


def autoscaled(name: str, target: int) -> Any:
    return lambda e: (e.watcher == name and e.action == "autoscale"
                      and e.detail.endswith(f"-> {target}"))


def decisions(rec: EventRecorder, name: str) -> list[str]:
    return [e.detail for e in rec.of(WatcherChanged)
            if e.watcher == name and e.action == "autoscale"]


def driver_running(name: str) -> bool:
    """Whether the engine's autoscale task of watcher `name` runs (by its task name)."""
    return any(t.get_name() == f"autoscale {name}" and not t.done()
               for t in asyncio.all_tasks())


# Busy at 1% of a core, sampled every second: a burner that runs at all on a loaded
# machine (load 20 on 2 cores still leaves it ~10%) is busy in every sample; the kernel
# counts CPU in 10 ms ticks, 1% of a 1 s sample. The burners burn until stopped.
BUSY: dict[str, Any] = dict(grow_above=1, shrink_below=0.5, interval=1.0)


@pytest.mark.timeout(180)
def test_busy_workers_grow_to_max() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("burn", BURN, 1, **BUSY)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("burn")
            assert driver_running("burn")  # started by the watcher once it is active
            first = await rec.wait_for(WatcherChanged, autoscaled("burn", 2), timeout=60)
            assert "at or above 1% CPU" in first.detail and "1 -> 2" in first.detail
            await rec.wait_for(WatcherChanged, autoscaled("burn", 3), timeout=60)
            assert w.numprocesses == 3
            assert len(arbiter.pids("burn")) == 3
            assert all(pid_exists(p) for p in arbiter.pids("burn"))
            # One driver: each step decided once; never past max.
            steps = decisions(rec, "burn")
            assert [d[-6:] for d in steps] == ["1 -> 2", "2 -> 3"], steps
            await arbiter.stop_watcher("burn")
            assert not driver_running("burn")  # stopped with the watcher
        assert not any(pid_exists(p) for p in w.pids())

    run(main())


def test_idle_workers_shrink_to_min() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("idle", "sleep 600", 3)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("idle")
            before = set(arbiter.pids("idle"))
            shrink = await rec.wait_for(WatcherChanged, autoscaled("idle", 2), timeout=20)
            assert "below 10% CPU" in shrink.detail
            await rec.wait_for(WatcherChanged, autoscaled("idle", 1), timeout=20)
            assert w.numprocesses == 1
            # The highest slots went first; the survivor is the original wid 1.
            assert sorted(w.processes) == [1]
            assert arbiter.pids("idle") == [w.processes[1].pid]
            assert set(arbiter.pids("idle")) < before
            # One driver: each step decided once; never below min.
            steps = decisions(rec, "idle")
            assert [d[-6:] for d in steps] == ["3 -> 2", "2 -> 1"], steps

    run(main())


def test_set_adds_and_removes_the_autoscale_table_at_runtime() -> None:
    async def main() -> None:
        plain = {k: v for k, v in watcher("idle", "sleep 600", 2).items() if k != "autoscale"}
        arbiter = Arbiter([plain])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            assert not driver_running("idle")
            mark = len(rec.events)
            await arbiter.set_options("idle", {"autoscale": dict(FAST)})
            assert driver_running("idle")
            await rec.wait_for(WatcherChanged, autoscaled("idle", 1), timeout=20, start=mark)
            assert arbiter.watcher("idle").numprocesses == 1
            await arbiter.set_options("idle", {"autoscale": None})
            assert not driver_running("idle")
            assert arbiter.watcher("idle").config.autoscale is None
            # Scaling by hand still works, and restarting the watcher brings no driver back.
            assert await arbiter.incr("idle", 2) == 3
            await arbiter.restart("idle")
            assert arbiter.watcher("idle").is_active and not driver_running("idle")
            assert len(arbiter.pids("idle")) == 3

    run(main())


class FlakySampler:
    """A sampler whose first collect fails: the driver must log it and go on."""

    def __init__(self, real: StatsSampler) -> None:
        self.real = real
        self.calls = 0

    async def collect(self, watchers: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("psutil had a bad day")
        return await self.real.collect(watchers, **kwargs)


def test_a_failing_round_is_logged_and_the_next_one_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> FlakySampler:
        arbiter = Arbiter([watcher("idle", "sleep 600", 2)])
        sampler = FlakySampler(arbiter.sampler)
        arbiter.sampler = sampler  # type: ignore[assignment]  # handed to the drivers at start
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(WatcherChanged, autoscaled("idle", 1), timeout=20)
        return sampler

    with caplog.at_level(logging.ERROR, logger="ringleader.autoscale"):
        sampler = run(main())
    assert sampler.calls > 1
    assert any("round failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_stopped_watcher_is_not_scaled() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("idle", "sleep 600", 2)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("idle")
            assert driver_running("idle")
            await w.stop()
            assert not driver_running("idle")  # the engine's driver went with the watcher
            # Rounds of a driver-level instance, run by hand (no waiting on the
            # interval): each leaves the stopped watcher alone.
            driver = AutoscaleDriver(w, arbiter.sampler)
            for _ in range(5):
                await driver.tick()
            assert w.numprocesses == 2
            assert not decisions(rec, "idle")

    run(main())


class _GatedSampler:
    """Holds the 4th sampling round until released: a round in progress during a `set`."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.rounds = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def collect(self, watchers: Any, **kw: Any) -> Any:
        self.rounds += 1
        result = await self.real.collect(watchers, **kw)
        if self.rounds == 4:
            self.entered.set()
            await self.release.wait()
        return result


def test_set_during_a_scaling_round_neither_deadlocks_nor_replaces_processes() -> None:
    fast = {"min": 1, "max": 3, "grow_after": 0.1, "cooldown": 0.1, "interval": 0.2,
            "grow_above": 0, "shrink_below": 0, "shrink_after": 100}

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": "sleep 600", "stdout_stream": {"kind": "null"},
                            "autoscale": fast}])
        gate = _GatedSampler(arbiter.sampler)
        arbiter.sampler = gate  # type: ignore[assignment]
        async with arbiter:
            await gate.entered.wait()
            before = set(arbiter.pids("w"))
            asyncio.get_running_loop().call_later(0.2, gate.release.set)
            await arbiter.set_options("w", {"autoscale": {**fast, "interval": 0.3}})
            assert before <= set(arbiter.pids("w"))  # a live option: nobody replaced

    run(main(), timeout=30)
