"""Health checks through the engine, with real processes: the monitor the watcher itself
runs restarts a process whose check fails, tells readiness on a passing check, and, with
readiness = "health", makes the start return only once the check passes."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Any

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessSpawned, ProcessStateChanged, WatcherChanged
from ringleader.lifecycle.states import ProcessState, WatcherState
from ringleader.testing import EventRecorder, pid_exists, wait_until
from ringleader.testing import run_async as run

NULL = {"kind": "null"}


def sleeper(health: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"name": "w", "cmd": "sleep 600", "health": health, "stdout_stream": NULL,
            "stderr_stream": NULL, **options}


def file_check(test: str, counter: Path, **kw: Any) -> dict[str, Any]:
    """A command check: healthy when `test` (a `test` expression) holds; each probe
    appends a line to `counter`, so that a test can wait for probes to have run."""
    script = f"echo probe >> {shlex.quote(str(counter))}; test {test}"
    return {"kind": "command", "command": f"/bin/sh -c {shlex.quote(script)}",
            "interval": 0.2, "timeout": 5, "failures": 2, **kw}


def probes(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def monitor_running() -> bool:
    """Whether the engine's health check task of watcher "w" runs (by its task name)."""
    return any(t.get_name() == "health check of w" and not t.done()
               for t in asyncio.all_tasks())


def unhealthy(rec: EventRecorder) -> list[WatcherChanged]:
    return [e for e in rec.of(WatcherChanged) if e.action == "unhealthy"]


def test_failing_check_restarts_the_process_and_says_why(tmp_path: Path) -> None:
    flag = tmp_path / "sick"
    absent = f"! -e {shlex.quote(str(flag))}"

    async def main() -> None:
        arbiter = Arbiter([sleeper(file_check(absent, tmp_path / "probes"))])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            assert monitor_running()
            watcher = arbiter.watcher("w")
            old_pid = watcher.processes[1].pid
            assert old_pid is not None
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
            # One monitor: one verdict and one restart for the old process.
            assert len([e for e in unhealthy(rec) if f"pid {old_pid}" in e.detail]) == 1
            stopping = [e for e in rec.events[mark:] if isinstance(e, ProcessStateChanged)
                        and e.new == "stopping"]
            assert len(stopping) == 1 and "unhealthy" in stopping[0].reason
            await arbiter.stop_watcher("w")
            assert not monitor_running()  # stopped with the watcher

    run(main())


def test_passing_check_marks_a_starting_process_ready(tmp_path: Path) -> None:
    async def main() -> None:
        # warmup_delay=600: without the check the process would stay STARTING (and the
        # start would not return); interval=600: a new process is probed at once, not a
        # round later.
        check = file_check("-d /", tmp_path / "probes", interval=600)
        arbiter = Arbiter([sleeper(check, warmup_delay=600)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            proc = arbiter.watcher("w").processes[1]
            assert proc.state is ProcessState.RUNNING
            running = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "running")
            assert running.reason == "health check passed" and running.pid == proc.pid
            assert arbiter.watcher("w").state is WatcherState.ACTIVE

    run(main())


def test_start_period_keeps_a_young_process(tmp_path: Path) -> None:
    counter = tmp_path / "probes"

    async def main() -> None:
        arbiter = Arbiter([sleeper(file_check("! -d /", counter, start_period=600))])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            # Well past `failures` failed probes of a running process.
            await wait_until(lambda: probes(counter) >= 5, what="five probes")
            assert not unhealthy(rec)
            assert len(rec.of(ProcessSpawned)) == 1
            assert arbiter.watcher("w").processes[1].state is ProcessState.RUNNING

    run(main())


def test_readiness_health_start_returns_once_the_check_passes(tmp_path: Path) -> None:
    marker, counter = tmp_path / "ready", tmp_path / "probes"

    async def main() -> None:
        check = file_check(f"-e {shlex.quote(str(marker))}", counter)
        arbiter = Arbiter([sleeper(check, readiness="health", ready_timeout=30)])
        rec = EventRecorder(arbiter.bus)
        starting = asyncio.ensure_future(arbiter.start())
        try:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "starting")
            # Failing probes of a starting process neither make it ready nor count.
            await wait_until(lambda: probes(counter) >= 3, what="three probes")
            watcher = arbiter.watcher("w")
            proc = watcher.processes[1]
            assert proc.state is ProcessState.STARTING
            assert arbiter.statuses()["w"]["state"] == "starting"
            assert not starting.done()
            marker.write_text("")
            async with asyncio.timeout(10):
                await starting
            assert watcher.processes[1].state is ProcessState.RUNNING
            assert arbiter.statuses()["w"]["state"] == "active"
            running = [e for e in rec.of(ProcessStateChanged) if e.new == "running"]
            assert [(e.pid, e.reason) for e in running] == [(proc.pid, "health check passed")]
            assert not unhealthy(rec)
        finally:
            if not starting.done():
                starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await arbiter.stop()

    run(main())
