"""ResourceWatchdogDriver with real processes: a worker over its memory limit is
restarted in its slot; one under it is left alone."""

from __future__ import annotations

from ringleader.config.features import WatchdogConfig
from ringleader.config.model import StreamConfig, WatcherConfig
from ringleader.core.arbiter import Arbiter
from ringleader.core.events import ProcessExited, ProcessSpawned, WatcherChanged
from ringleader.core.resource_watchdog import ResourceWatchdogDriver
from ringleader.testing import EventRecorder, pid_exists, python_cmd
from ringleader.testing import run_async as run

MB = 1_048_576
# b"x" * n writes every page (a zeroed bytearray could stay unbacked and out of RSS).
HOG = python_cmd(f"import time\nblob = b'x' * {100 * MB}\ntime.sleep(600)\n")
NULL = StreamConfig(kind="null")
LIMITS = WatchdogConfig(max_rss=50 * MB, checks=2, interval=0.3)


def watcher(name: str, cmd: str) -> WatcherConfig:
    return WatcherConfig(name=name, cmd=cmd, stdout_stream=NULL, stderr_stream=NULL,
                         watchdog=LIMITS)


def test_a_process_over_max_rss_is_restarted() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("hog", HOG), watcher("lean", "sleep 600")])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            hog, lean = arbiter.watcher("hog"), arbiter.watcher("lean")
            old_pid, lean_pid = hog.processes[1].pid, lean.processes[1].pid
            drivers = [ResourceWatchdogDriver(hog, arbiter.sampler),
                       ResourceWatchdogDriver(lean, arbiter.sampler)]
            for d in drivers:
                d.start()
            try:
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
            finally:
                for d in drivers:
                    await d.stop()
            assert lean.processes[1].pid == lean_pid
            assert not [e for e in rec.of(WatcherChanged)
                        if e.action == "watchdog" and e.watcher == "lean"]

    run(main())
