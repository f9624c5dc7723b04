"""Hooks in the watcher lifecycle, through the Arbiter with real processes: a refusing
before_start cancels the start, a shell after_spawn gets the new process in its
environment, before_stop/after_stop frame a stop, a refusing before_signal cancels an
operator's signal (but never SIGKILL), after_reap sees the exit code."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hookfuncs
import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.errors import HookFailed
from ringleader.lifecycle.events import ProcessExited, ProcessSpawned, ProcessStateChanged
from ringleader.lifecycle.states import WatcherState
from ringleader.testing import EventRecorder, pid_exists, wait_until
from ringleader.testing import run_async as run

NULL = {"kind": "null"}


@pytest.fixture(autouse=True)
def fresh_calls() -> Iterator[None]:
    hookfuncs.CALLS.clear()
    yield
    hookfuncs.CALLS.clear()


def watcher(hooks: dict[str, Any], cmd: str = "sleep 600", **options: Any) -> dict[str, Any]:
    return {"name": "w", "cmd": cmd, "hooks": hooks, "stdout_stream": NULL,
            "stderr_stream": NULL, **options}


def calls(name: str) -> list[dict[str, Any]]:
    return [c for c in hookfuncs.CALLS if c["hook_name"] == name]


def test_a_refusing_before_start_cancels_the_start() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher({"before_start": "hookfuncs.returns_false"},
                                   autostart=False)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            with pytest.raises(HookFailed, match="before_start"):
                await arbiter.start_watcher("w")
            w = arbiter.watcher("w")
            assert w.state is WatcherState.STOPPED
            assert w.processes == {} and arbiter.pids() == []
            assert not rec.of(ProcessSpawned)

    run(main())


def test_shell_after_spawn_gets_the_pid_and_watcher(tmp_path: Path) -> None:
    out = tmp_path / "spawned"

    async def main() -> None:
        line = f'echo "$RINGLEADER_WATCHER $RINGLEADER_PID $RINGLEADER_WID" >> {out}'
        arbiter = Arbiter([watcher({"after_spawn": line}, numprocesses=2)])
        async with arbiter:
            await wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2,
                             what="two after_spawn lines")
            seen = sorted(tuple(ln.split()) for ln in out.read_text().splitlines())
            procs = arbiter.watcher("w").processes
            assert seen == sorted(("w", str(p.pid), str(p.wid)) for p in procs.values())

    run(main())


def test_before_and_after_stop_frame_the_stop() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher({"before_stop": "hookfuncs.sync_ok",
                                    "after_stop": "hookfuncs.sync_ok"})])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            pid = arbiter.watcher("w").processes[1].pid
            assert pid is not None
            await arbiter.stop_watcher("w")  # returns once after_stop ran
            assert [c["hook_name"] for c in hookfuncs.CALLS] == ["before_stop", "after_stop"]
            before, after = hookfuncs.CALLS
            assert before["watcher"].pids == (pid,)  # still running when it was called
            assert after["watcher"].pids == ()  # all gone by then
            assert not pid_exists(pid)
            assert rec.of(ProcessExited)[-1].pid == pid

    run(main())


def test_a_refusing_before_signal_cancels_a_signal_but_not_sigkill() -> None:
    async def main() -> None:
        refuse = {"target": "hookfuncs.returns_false", "abort_on_failure": True}
        arbiter = Arbiter([watcher({"before_signal": refuse,
                                    "after_signal": "hookfuncs.sync_ok"})])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            w = arbiter.watcher("w")
            pid = w.processes[1].pid
            assert pid is not None
            with pytest.raises(HookFailed, match="before_signal"):
                await w.signal(signal.SIGUSR1)  # would kill `sleep`
            assert not calls("after_signal")
            assert pid_exists(pid) and w.processes[1].pid == pid
            assert not rec.of(ProcessExited)
            assert await w.signal(signal.SIGKILL) == 1
            exited = await rec.wait_for(ProcessExited, lambda e: e.pid == pid)
            assert exited.signal == signal.SIGKILL
            (after,) = calls("after_signal")
            assert after["signum"] == signal.SIGKILL and after["watcher"].pids == (pid,)

    run(main())


def test_after_reap_sees_the_exit_code() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher({"after_reap": "hookfuncs.sync_ok"},
                                   cmd=f"/bin/sh -c {shlex.quote('exit 3')}", respawn=False)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            exited = await rec.wait_for(ProcessExited, lambda e: e.watcher == "w")
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")
            await wait_until(lambda: bool(calls("after_reap")), what="the after_reap hook")
            (reap,) = calls("after_reap")
            assert reap["exit_code"] == 3 and exited.exit_code == 3
            assert reap["process_pid"] == reap["pid"] == exited.pid
            assert reap["wid"] == 1 and reap["expected"] is False

    run(main())
