"""An immediate respawn starts the replacement before the exit is logged and announced
(engine/process.py ``_on_exit``): what is said about it must still come in the old order,
and a replacement that cannot start must still back off."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import psutil
import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessExited, ProcessSpawned, ProcessStateChanged
from ringleader.testing import EventRecorder, pid_exists
from ringleader.testing import run_async as run

NULL = {"kind": "null"}


def _watcher(name: str, cmd: str) -> dict[str, object]:
    return {"name": name, "cmd": cmd, "stdout_stream": NULL, "stderr_stream": NULL}


def test_the_exit_is_announced_before_its_replacement(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ringleader.process")

    async def main() -> None:
        arbiter = Arbiter([_watcher("w", "sleep 600")])
        rec = EventRecorder(arbiter.bus)
        children_at_exit: list[list[int]] = []

        def on_event(event: object) -> None:
            if isinstance(event, ProcessExited):
                children_at_exit.append([c.pid for c in psutil.Process().children()])

        arbiter.bus.subscribe(on_event)
        async with arbiter:
            slot = arbiter.watcher("w").processes[1]
            old = slot.pid
            assert old is not None
            mark = len(rec.events)
            os.kill(old, signal.SIGKILL)
            spawned = await rec.wait_for(ProcessSpawned, start=mark)
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "running", start=mark)
            said = [(type(e).__name__, getattr(e, "new", None), e.pid)
                    for e in rec.events[mark:]]
            assert said == [
                ("ProcessExited", None, old),
                ("ProcessStateChanged", "backoff", old),
                ("ProcessSpawned", None, spawned.pid),
                ("ProcessStateChanged", "starting", spawned.pid),
                ("ProcessStateChanged", "running", spawned.pid),
            ]
            assert slot.pid == spawned.pid and pid_exists(spawned.pid)
            assert slot.restarts == 1
            # the replacement was already running when the exit was announced
            assert spawned.pid in children_at_exit[0] and old not in children_at_exit[0]
            assert slot.exit_signal is None and slot.exit_code is None  # the new one's

    run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "ringleader.process"]
    exited = next(i for i, line in enumerate(lines) if "exited with signal SIGKILL" in line)
    respawned = next(i for i, line in enumerate(lines) if "spawned pid" in line and i > 0)
    assert exited < respawned


def test_a_replacement_that_cannot_start_backs_off(tmp_path: Path) -> None:
    script = tmp_path / "worker.sh"
    script.write_text("#!/bin/sh\nexec sleep 600\n")
    script.chmod(0o755)

    async def main() -> None:
        arbiter = Arbiter([_watcher("w", str(script))])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            slot = arbiter.watcher("w").processes[1]
            old = slot.pid
            assert old is not None
            script.unlink()  # the replacement's launch fails at once
            mark = len(rec.events)
            os.kill(old, signal.SIGKILL)
            await rec.wait_for(ProcessExited, lambda e: e.pid == old, start=mark)
            failed = await rec.wait_for(
                ProcessStateChanged,
                lambda e: e.new == "backoff" and "not found" in e.reason, start=mark)
            assert failed.reason.startswith(f"cannot run {str(script)!r}")
            assert not rec.of(ProcessSpawned)[1:]  # only the first start
            assert not slot.is_alive
            # it comes back once it can
            script.write_text("#!/bin/sh\nexec sleep 600\n")
            script.chmod(0o755)
            spawned = await rec.wait_for(ProcessSpawned, start=mark)
            assert pid_exists(spawned.pid)

    run(main())
