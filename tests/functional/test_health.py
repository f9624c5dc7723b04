"""HealthMonitor on a real Arbiter's watcher: a failing check restarts the process, a
passing one tells readiness."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from ringleader.config.features import HealthCheckConfig
from ringleader.config.model import StreamConfig, WatcherConfig
from ringleader.core.arbiter import Arbiter
from ringleader.core.events import ProcessSpawned, ProcessStateChanged, WatcherChanged
from ringleader.core.health import HealthMonitor
from ringleader.core.states import ProcessState
from ringleader.testing import EventRecorder, pid_exists
from ringleader.testing import run_async as run

NULL = StreamConfig(kind="null")


def sleeper(health: HealthCheckConfig, **options: object) -> WatcherConfig:
    return WatcherConfig(name="w", cmd="sleep 600", health=health, stdout_stream=NULL,
                         stderr_stream=NULL, **options)  # type: ignore[arg-type]


def file_check(flag: Path, **kw: object) -> HealthCheckConfig:
    """Healthy while `flag` does not exist."""
    cmd = f"/bin/sh -c {shlex.quote(f'test ! -e {shlex.quote(str(flag))}')}"
    options: dict[str, object] = {"interval": 0.2, "timeout": 1, "failures": 2, **kw}
    return HealthCheckConfig(kind="command", command=cmd, **options)  # type: ignore[arg-type]


def test_failing_check_restarts_the_process_and_says_why(tmp_path: Path) -> None:
    flag = tmp_path / "sick"

    async def main() -> None:
        cfg = sleeper(file_check(flag))
        assert cfg.health is not None
        arbiter = Arbiter([cfg])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            watcher = arbiter.watcher("w")
            monitor = HealthMonitor(watcher, cfg.health)
            monitor.start()
            try:
                proc = watcher.processes[1]
                old_pid = proc.pid
                assert old_pid is not None
                # Healthy for a while: let two rounds pass without a restart.
                mark = len(rec.events)
                flag.write_text("")
                event = await rec.wait_for(WatcherChanged, lambda e: e.action == "unhealthy",
                                           start=mark)
                assert event.watcher == "w"
                assert f"w.1 pid {old_pid}" in event.detail
                assert "2 failed health checks" in event.detail
                spawned = await rec.wait_for(ProcessSpawned, lambda e: e.wid == 1, start=mark)
                assert spawned.pid != old_pid
                flag.unlink()  # the new process is healthy
                await rec.wait_for(ProcessStateChanged, lambda e: e.pid == spawned.pid
                                   and e.new == "running", start=mark)
                assert not pid_exists(old_pid)
                stopping = [e for e in rec.events[mark:] if isinstance(e, ProcessStateChanged)
                            and e.new == "stopping"]
                assert len(stopping) == 1 and "unhealthy" in stopping[0].reason
            finally:
                await monitor.stop()

    run(main())


def test_passing_check_marks_a_starting_process_ready(tmp_path: Path) -> None:
    async def main() -> None:
        # warmup_delay=600: without the check the process would stay STARTING. The monitor
        # runs before the watcher starts, as the controller runs it (a start waits for
        # readiness); interval=600: a new process is probed at once, not a round later.
        cfg = sleeper(file_check(tmp_path / "absent", interval=600), warmup_delay=600,
                      autostart=False)
        assert cfg.health is not None
        arbiter = Arbiter([cfg])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            watcher = arbiter.watcher("w")
            monitor = HealthMonitor(watcher, cfg.health)
            monitor.start()
            try:
                await arbiter.start_watcher("w")
                event = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "running")
                proc = watcher.processes[1]
                assert event.reason == "health check passed" and event.pid == proc.pid
                assert proc.state is ProcessState.RUNNING
            finally:
                await monitor.stop()

    run(main())


def test_start_period_keeps_a_young_process(tmp_path: Path) -> None:
    flag = tmp_path / "sick"
    flag.write_text("")

    async def main() -> None:
        cfg = sleeper(file_check(flag, start_period=600))
        assert cfg.health is not None
        arbiter = Arbiter([cfg])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            watcher = arbiter.watcher("w")
            monitor = HealthMonitor(watcher, cfg.health)
            try:
                for _ in range(4):  # well past `failures` failed probes
                    await monitor.check_once()
                assert not [e for e in rec.of(WatcherChanged) if e.action == "unhealthy"]
                assert len(rec.of(ProcessSpawned)) == 1
            finally:
                await monitor.stop()

    run(main())


def test_readiness_health_start_returns_once_the_check_passes(tmp_path: Path) -> None:
    flag = tmp_path / "not-yet"
    flag.write_text("")

    async def main() -> None:
        cfg = sleeper(file_check(flag, interval=600), readiness="health", autostart=False,
                      ready_timeout=30)
        assert cfg.health is not None
        arbiter = Arbiter([cfg])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            watcher = arbiter.watcher("w")
            monitor = HealthMonitor(watcher, cfg.health)
            monitor.start()
            try:
                starting = asyncio.ensure_future(arbiter.start_watcher("w"))
                await rec.wait_for(ProcessStateChanged, lambda e: e.new == "starting")
                # Failing probes of a starting process neither make it ready nor count.
                for _ in range(3):
                    await monitor.check_once()
                proc = watcher.processes[1]
                assert proc.state is ProcessState.STARTING and not starting.done()
                flag.unlink()
                await starting
                assert proc.state is ProcessState.RUNNING
                running = rec.of(ProcessStateChanged)[-1]
                assert (running.new, running.reason) == ("running", "health check passed")
                assert not [e for e in rec.of(WatcherChanged) if e.action == "unhealthy"]
            finally:
                await monitor.stop()

    run(main())
