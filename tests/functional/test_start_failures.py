"""Starts that fail, through the engine with real processes: a watcher never ready, a
refusing before_start hook, a hung process (sd_notify watchdog). One watcher's failure is
reported; the others start; the respawn policy keeps counting."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.errors import HookFailed, NotReady
from ringleader.lifecycle.events import ProcessStateChanged
from ringleader.testing import EventRecorder, python_cmd
from ringleader.testing import run_async as run

NULL = {"kind": "null"}
GIVE_UP_FAST = {"free_retries": 0, "max_retries": 2, "initial": 0.05}


def watcher(name: str, cmd: str = "sleep 600", **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": cmd, "stdout_stream": NULL, "stderr_stream": NULL, **options}


def silent(name: str, **options: Any) -> dict[str, Any]:
    """Never sends READY=1."""
    return watcher(name, readiness="notify", ready_timeout=0.5, backoff=GIVE_UP_FAST,
                   **options)


def test_start_of_a_never_ready_watcher_raises_and_leaves_it_active() -> None:
    async def main() -> None:
        async with Arbiter([silent("s", autostart=False), watcher("ok", autostart=False)]) \
                as arbiter:
            # Starting all: every watcher is tried, the failure is raised at the end.
            with pytest.raises(NotReady, match="'s'"):
                await arbiter.start_watcher(None)
            assert arbiter.statuses()["ok"]["running"] == 1
            await arbiter.stop_watcher("s")
            with pytest.raises(NotReady, match=r"'s': 1 of 1 process\(es\) not ready"):
                await arbiter.start_watcher("s")
            assert arbiter.statuses()["s"]["state"] in ("active", "failed")

    run(main())


def test_not_ready_restarts_count_and_end_in_failed() -> None:
    async def main() -> None:
        arbiter = Arbiter([silent("s")])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            failed = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "failed")
            assert "not ready after 0.5s" in failed.reason
            assert "giving up after 2 retries" in failed.reason
            slot = arbiter.statuses()["s"]["processes"][0]
            assert slot["restarts"] == 2
            assert arbiter.statuses()["s"]["state"] == "failed"

    run(main())


QUIET = python_cmd(
    "import os, socket, time\n"
    "addr = os.environ['NOTIFY_SOCKET']\n"
    "addr = '\\0' + addr[1:] if addr.startswith('@') else addr\n"
    "socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', addr)\n"
    "time.sleep(600)\n"
)


def test_watchdog_restarts_count_and_follow_the_respawn_policy() -> None:
    """A process that says it is ready, then never pings: each watchdog restart counts,
    and one that keeps hanging young is given up like one that keeps crashing."""
    async def main() -> None:
        arbiter = Arbiter([watcher("hung", QUIET, readiness="notify", watchdog_sec=0.3,
                                   backoff=GIVE_UP_FAST)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            failed = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "failed")
            assert "watchdog timeout" in failed.reason
            assert arbiter.statuses()["hung"]["processes"][0]["restarts"] == 2

    run(main())


def test_the_daemons_start_skips_a_refused_watcher_and_reports_one_not_ready(
        caplog: pytest.LogCaptureFixture) -> None:
    """skip_refused (the daemon's start, as circus): the refused watcher stays stopped,
    logged, the others start. Without it (the library, `async with`), the refusal raises:
    the caller stops the arbiter (test_library_threads)."""
    caplog.set_level(logging.ERROR, logger="ringleader.arbiter")

    async def main() -> None:
        arbiter = Arbiter([
            watcher("refused", priority=10,
                    hooks={"before_start": {"target": "exit 1", "kind": "shell"}}),
            silent("slow", priority=5),
            watcher("good"),
        ])
        await arbiter.start(skip_refused=True)
        try:
            status = arbiter.statuses()
            assert status["refused"]["state"] == "stopped"
            assert status["refused"]["desired"] == "running"
            assert status["refused"]["detail"] == "before_start hook failed"
            assert status["good"]["running"] == 1
            with pytest.raises(HookFailed):  # a client's start still hears the refusal
                await arbiter.start_watcher("refused")
        finally:
            await arbiter.stop()

    run(main())
    errors = [r.getMessage() for r in caplog.records]
    assert any("'refused'" in m and "skipped" in m for m in errors), errors
    assert any("'slow'" in m and "not ready" in m for m in errors), errors


def test_processes_exiting_on_their_own_while_their_watcher_stops() -> None:
    """Processes that end at once and are respawned at once (min_uptime 0): a stop finds
    some of them gone on their own, before their stop signal. Each ends `stopped`, the
    stop returns, the next start works (it used to raise in the reaper's callback and
    leave the slot `stopping` for good)."""
    errors: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, ctx: errors.append(str(ctx.get("exception") or ctx["message"])))
        arbiter = Arbiter([watcher("churn", "/bin/true", numprocesses=8,
                                   backoff={"min_uptime": 0})])
        async with arbiter:
            for _ in range(10):
                await arbiter.stop_watcher("churn")
                states = {p["state"] for p in arbiter.statuses()["churn"]["processes"]}
                assert states == {"stopped"}, states
                await arbiter.start_watcher("churn")

    run(main())
    assert errors == []
