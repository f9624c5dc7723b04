"""Resource watchdog through the engine, with real processes: a watcher with a `watchdog`
table has the driver the watcher itself runs restart a worker over its memory limit in
its slot, and leave one under it alone; `set` adds or removes the table at runtime."""

from __future__ import annotations

import asyncio
from typing import Any

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessExited, ProcessSpawned, WatcherChanged
from ringleader.testing import EventRecorder, pid_exists, python_cmd
from ringleader.testing import run_async as run

MB = 1_048_576
# b"x" * n writes every page (a zeroed bytearray could stay unbacked and out of RSS).
HOG = python_cmd(f"import time\nblob = b'x' * {100 * MB}\ntime.sleep(600)\n")
NULL = {"kind": "null"}
LIMITS: dict[str, Any] = {"max_rss": 50 * MB, "checks": 2, "interval": 0.3}


def watcher(name: str, cmd: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": cmd, "stdout_stream": NULL, "stderr_stream": NULL,
            **options}


def driver_running(name: str) -> bool:
    """Whether the engine's watchdog task of watcher `name` runs (by its task name)."""
    return any(t.get_name() == f"watchdog {name}" and not t.done()
               for t in asyncio.all_tasks())


def restarts(rec: EventRecorder, name: str) -> list[WatcherChanged]:
    return [e for e in rec.of(WatcherChanged) if e.watcher == name and e.action == "watchdog"]


def test_a_process_over_max_rss_is_restarted() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("hog", HOG, watchdog=LIMITS),
                           watcher("lean", "sleep 600", watchdog=LIMITS)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            hog, lean = arbiter.watcher("hog"), arbiter.watcher("lean")
            assert driver_running("hog") and driver_running("lean")
            old_pid, lean_pid = hog.processes[1].pid, lean.processes[1].pid
            event = await rec.wait_for(
                WatcherChanged, lambda e: e.action == "watchdog", timeout=20)
            assert event.watcher == "hog"
            assert event.detail.startswith(f"hog.1 pid {old_pid}: memory ")
            assert "over 50.0 MiB for 2 checks in a row" in event.detail
            exited = await rec.wait_for(ProcessExited, lambda e: e.pid == old_pid)
            assert exited.expected  # stopped by the controller, not a crash
            spawned = await rec.wait_for(
                ProcessSpawned, lambda e: e.watcher == "hog" and e.pid != old_pid)
            assert hog.processes[1].pid == spawned.pid and pid_exists(spawned.pid)
            assert not pid_exists(old_pid or 0)
            # One driver: the old process was restarted once, not once per driver.
            assert len([e for e in restarts(rec, "hog") if f"pid {old_pid}:" in e.detail]) == 1
            assert lean.processes[1].pid == lean_pid
            assert not restarts(rec, "lean")
            await arbiter.stop_watcher()
            assert not driver_running("hog") and not driver_running("lean")

    run(main())


def test_set_adds_and_removes_the_watchdog_table_at_runtime() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("hog", HOG)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            hog = arbiter.watcher("hog")
            assert not driver_running("hog")
            mark = len(rec.events)
            await arbiter.set_options("hog", {"watchdog": LIMITS})
            assert driver_running("hog")
            event = await rec.wait_for(WatcherChanged, lambda e: e.action == "watchdog",
                                       timeout=20, start=mark)
            assert event.watcher == "hog" and "memory" in event.detail
            await arbiter.set_options("hog", {"watchdog": None})
            assert not driver_running("hog")
            assert hog.config.watchdog is None
            assert hog.is_active

    run(main())
