"""The HealthMonitor's bookkeeping, with stand-in processes and a probe stub: no timing
involved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ringleader.config.features import HealthCheckConfig
from ringleader.features.health import monitor as health_monitor
from ringleader.features.health.monitor import HealthMonitor
from ringleader.lifecycle.events import EventBus, WatcherChanged
from ringleader.lifecycle.states import ProcessState
from ringleader.testing import EventRecorder, wait_until
from ringleader.testing import run_async as run


@dataclass
class FakeProc:
    wid: int
    pid: int | None
    state: ProcessState = ProcessState.RUNNING
    age: float = 100.0
    ready_reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"w.{self.wid}"

    def uptime(self) -> float:
        return self.age

    def mark_ready(self, reason: str) -> bool:
        self.ready_reasons.append(reason)
        if self.state is not ProcessState.STARTING:
            return False
        self.state = ProcessState.RUNNING
        return True


@dataclass
class FakeConfig:
    working_dir: str | None = None
    readiness: str = "warmup"


@dataclass
class FakeTemplate:
    env: dict[str, str] = field(default_factory=dict)


class FakeWatcher:
    def __init__(self, procs: list[FakeProc], readiness: str = "warmup") -> None:
        self.name = "w"
        self.processes = {p.wid: p for p in procs}
        self.config = FakeConfig(readiness=readiness)
        self.template = FakeTemplate()
        self.bus = EventBus()
        self.restarted: list[tuple[int, str]] = []

    async def restart_process(self, wid: int, reason: str) -> bool:
        self.restarted.append((wid, reason))
        proc = self.processes[wid]
        assert proc.pid is not None
        proc.pid += 1000
        return True


def monitor_with(watcher: FakeWatcher, verdicts: dict[int, bool], clock: Callable[[], float],
                 monkeypatch: pytest.MonkeyPatch, **cfg: Any) -> HealthMonitor:
    async def fake_probe(cfg: HealthCheckConfig, *, wid: int, env: Any,
                         cwd: str | None = None) -> tuple[bool, str]:
        assert env["RINGLEADER_WID"] == str(wid)
        if wid == 99:
            raise RuntimeError("boom")
        return verdicts[wid], "ok" if verdicts[wid] else "it said no"

    monkeypatch.setattr(health_monitor, "probe", fake_probe)
    hc = HealthCheckConfig(kind="command", command="x", **{"failures": 2, **cfg})
    return HealthMonitor(watcher, hc, clock=clock)  # type: ignore[arg-type]


def test_monitor_restarts_after_consecutive_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        procs = [FakeProc(1, 101), FakeProc(2, 102), FakeProc(3, None,
                                                               ProcessState.BACKOFF)]
        watcher = FakeWatcher(procs)
        verdicts = {1: False, 2: True}
        monitor = monitor_with(watcher, verdicts, lambda: 1000.0, monkeypatch, failures=3)
        rec = EventRecorder(watcher.bus)
        await monitor.check_once()
        await monitor.check_once()
        verdicts[1] = True  # a pass resets the streak
        await monitor.check_once()
        verdicts[1] = False
        await monitor.check_once()
        await monitor.check_once()
        assert watcher.restarted == []
        await monitor.check_once()
        event = await rec.wait_for(WatcherChanged, lambda e: e.action == "unhealthy")
        assert event.watcher == "w" and "w.1 pid 101" in event.detail
        assert "3 failed health checks" in event.detail and "it said no" in event.detail
        await monitor.stop()  # waits for the restart under way
        assert [wid for wid, _ in watcher.restarted] == [1]
        assert "it said no" in watcher.restarted[0][1]
        # The new pid starts a fresh count.
        await monitor.check_once()
        assert len(watcher.restarted) == 1

    run(main())


def test_monitor_start_period_and_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]

    async def main() -> None:
        young = FakeProc(1, 101, ProcessState.STARTING, age=0.0)
        watcher = FakeWatcher([young])
        verdicts = {1: False}
        monitor = monitor_with(watcher, verdicts, lambda: now[0], monkeypatch,
                               start_period=30.0, failures=1)
        for _ in range(3):
            await monitor.check_once()  # failures of a STARTING process do not count
        assert watcher.restarted == [] and young.state is ProcessState.STARTING
        verdicts[1] = True
        await monitor.check_once()
        assert young.state is ProcessState.RUNNING
        assert young.ready_reasons == ["health check passed"]
        await monitor.check_once()  # only STARTING processes are marked
        assert young.ready_reasons == ["health check passed"]
        verdicts[1] = False
        for _ in range(3):
            await monitor.check_once()  # nor do they count within the start period
        assert watcher.restarted == []
        now[0] += 31
        await monitor.check_once()
        await monitor.stop()
        assert [wid for wid, _ in watcher.restarted] == [1]

    run(main())


def test_monitor_leaves_notify_readiness_alone_and_survives_probe_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        starting = FakeProc(1, 101, ProcessState.STARTING)
        broken = FakeProc(99, 199)
        watcher = FakeWatcher([starting, broken], readiness="notify")
        monitor = monitor_with(watcher, {1: True}, lambda: 0.0, monkeypatch)
        monitor.start()
        await wait_until(lambda: monitor.running, timeout=5)
        await monitor.check_once()
        assert starting.state is ProcessState.STARTING and starting.ready_reasons == []
        assert monitor.running  # the raising probe did not end the monitor
        await monitor.stop()
        assert not monitor.running

    run(main())
