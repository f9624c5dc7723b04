"""AutoscaleDriver with real processes: busy workers grow the watcher, idle ones shrink it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ringleader.config.features import AutoscaleConfig
from ringleader.config.model import StreamConfig, WatcherConfig
from ringleader.core.arbiter import Arbiter
from ringleader.core.autoscaler import AutoscaleDriver
from ringleader.core.events import WatcherChanged
from ringleader.core.stats import StatsSampler
from ringleader.testing import EventRecorder, pid_exists, python_cmd
from ringleader.testing import run_async as run

BURN = python_cmd("while True: pass")
NULL = StreamConfig(kind="null")
# Small timings; a low busy threshold because the test machine may have 2 cores shared
# with other tests: 3 burners there get ~60% each, never 80.
FAST = dict(min=1, max=3, grow_after=1, cooldown=1, interval=0.3, grow_above=20,
            shrink_below=10, shrink_after=1)


def watcher(name: str, cmd: str, n: int, **autoscale: Any) -> WatcherConfig:
    return WatcherConfig(name=name, cmd=cmd, numprocesses=n, stdout_stream=NULL,
                         stderr_stream=NULL, autoscale=AutoscaleConfig(**{**FAST, **autoscale}))


def autoscaled(name: str, target: int) -> Any:
    return lambda e: (e.watcher == name and e.action == "autoscale"
                      and e.detail.endswith(f"-> {target}"))


def test_busy_workers_grow_to_max() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("burn", BURN, 1)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("burn")
            driver = AutoscaleDriver(w, arbiter.sampler)
            driver.start()
            try:
                first = await rec.wait_for(WatcherChanged, autoscaled("burn", 2), timeout=20)
                assert "at or above 20% CPU" in first.detail and "1 -> 2" in first.detail
                await rec.wait_for(WatcherChanged, autoscaled("burn", 3), timeout=20)
                assert w.numprocesses == 3
                assert len(arbiter.pids("burn")) == 3
                assert all(pid_exists(p) for p in arbiter.pids("burn"))
            finally:
                await driver.stop()
            assert not driver.is_running
            # Never past max: no decision beyond 3 while burning.
            assert not [e for e in rec.of(WatcherChanged)
                        if e.action == "autoscale" and e.detail.endswith("-> 4")]
        assert not any(pid_exists(p) for p in w.pids())

    run(main())


def test_idle_workers_shrink_to_min() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("idle", "sleep 600", 3)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("idle")
            before = set(arbiter.pids("idle"))
            driver = AutoscaleDriver(w, arbiter.sampler)
            driver.start()
            driver.start()  # idempotent
            try:
                shrink = await rec.wait_for(WatcherChanged, autoscaled("idle", 2), timeout=20)
                assert "below 10% CPU" in shrink.detail
                await rec.wait_for(WatcherChanged, autoscaled("idle", 1), timeout=20)
            finally:
                await driver.stop()
                await driver.stop()  # idempotent
            assert w.numprocesses == 1
            # The highest slots went first; the survivor is the original wid 1.
            assert sorted(w.processes) == [1]
            assert arbiter.pids("idle") == [w.processes[1].pid]
            assert set(arbiter.pids("idle")) < before
            assert not [e for e in rec.of(WatcherChanged)
                        if e.action == "autoscale" and e.detail.endswith("-> 0")]

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
    async def main() -> None:
        arbiter = Arbiter([watcher("idle", "sleep 600", 2)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            sampler = FlakySampler(arbiter.sampler)
            driver = AutoscaleDriver(arbiter.watcher("idle"), sampler)  # type: ignore[arg-type]
            driver.start()
            try:
                await rec.wait_for(WatcherChanged, autoscaled("idle", 1), timeout=20)
            finally:
                await driver.stop()
            assert sampler.calls > 1

    with caplog.at_level(logging.ERROR, logger="ringleader.autoscale"):
        run(main())
    assert any("round failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_stopped_watcher_is_not_scaled() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("idle", "sleep 600", 2)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("idle")
            await w.stop()
            driver = AutoscaleDriver(w, arbiter.sampler)
            driver.start()
            try:
                # Rounds run by hand (no waiting on the interval): each leaves it alone.
                for _ in range(5):
                    await driver.tick()
            finally:
                await driver.stop()
            assert w.numprocesses == 2
            assert not [e for e in rec.of(WatcherChanged) if e.action == "autoscale"]

    run(main())
