"""The engine end to end, with real child processes."""

from __future__ import annotations

import os
import signal

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessExited, ProcessSpawned, ProcessStateChanged
from ringleader.testing import EventRecorder, pid_exists, python_cmd, wait_until
from ringleader.testing import run_async as run

SLEEP = "sleep 600"
NULL = {"kind": "null"}
TERM_IGNORING = python_cmd(
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "time.sleep(600)\n"
)


def watcher(name: str, cmd: str = SLEEP, **options: object) -> dict[str, object]:
    return {"name": name, "cmd": cmd, "stdout_stream": NULL, "stderr_stream": NULL, **options}


def test_start_runs_every_process_and_stop_reaps_them() -> None:
    async def main() -> None:
        async with Arbiter([watcher("sleepers", numprocesses=5)]) as arbiter:
            pids = arbiter.pids("sleepers")
            assert len(pids) == 5
            assert all(pid_exists(p) for p in pids)
            status = arbiter.statuses()["sleepers"]
            assert status["state"] == "active"
            assert [p["state"] for p in status["processes"]] == ["running"] * 5
        assert not any(pid_exists(p) for p in pids)

    run(main())


def test_respawn_after_sigkill_keeps_the_slot() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("w", numprocesses=2)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            victim = arbiter.watcher("w").processes[2]
            old_pid = victim.pid
            assert old_pid is not None
            mark = len(rec.events)
            os.kill(old_pid, signal.SIGKILL)
            exited = await rec.wait_for(ProcessExited, lambda e: e.pid == old_pid)
            assert exited.signal == signal.SIGKILL and not exited.expected
            spawned = await rec.wait_for(ProcessSpawned, lambda e: e.wid == 2, start=mark)
            assert spawned.pid != old_pid and pid_exists(spawned.pid)
            assert victim.restarts == 1
            states = [e.new for e in rec.events[mark:]
                      if isinstance(e, ProcessStateChanged) and e.wid == 2]
            assert states == ["backoff", "starting", "running"]

    run(main())


def test_graceful_stop_uses_the_stop_signal() -> None:
    code = python_cmd(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(7))\n"
        "time.sleep(600)\n"
    )

    async def main() -> None:
        arbiter = Arbiter([watcher("w", code, stop_signal=int(signal.SIGUSR1),
                                    graceful_timeout=20, warmup_delay=0)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            proc = arbiter.watcher("w").processes[1]
            # Wait until the interpreter has installed its handler: poll its signal mask.
            await wait_until(lambda: _catches(proc.pid, signal.SIGUSR1), what="handler set")
            await arbiter.stop_watcher("w")
            exited = rec.of(ProcessExited)[0]
            assert (exited.exit_code, exited.signal, exited.expected) == (7, None, True)

    run(main())


def test_a_process_ignoring_sigterm_is_killed_after_graceful_timeout() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("stubborn", TERM_IGNORING, graceful_timeout=0.5)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            proc = arbiter.watcher("stubborn").processes[1]
            await wait_until(lambda: _ignores(proc.pid, signal.SIGTERM), what="SIGTERM ignored")
            await arbiter.stop_watcher("stubborn")
            exited = rec.of(ProcessExited)[0]
            assert exited.signal == signal.SIGKILL
            assert exited.uptime >= 0.5

    run(main())


def test_priority_orders_start_and_reverse_stop() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("low", priority=1), watcher("high", priority=10),
                           watcher("mid", priority=5)])
        rec = EventRecorder(arbiter.bus)
        await arbiter.start()
        await arbiter.stop()
        assert [e.watcher for e in rec.of(ProcessSpawned)] == ["high", "mid", "low"]
        assert [e.watcher for e in rec.of(ProcessExited)] == ["low", "mid", "high"]

    run(main())


def test_stop_children_stops_the_whole_process_group() -> None:
    forker = python_cmd(
        "import subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '600'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )

    async def main(tmp: str) -> None:
        out = {"kind": "file", "filename": f"{tmp}/out.log"}
        async with Arbiter([watcher("f", forker, stop_children=True, stdout_stream=out)]) as arb:
            await wait_until(lambda: _size(f"{tmp}/out.log") > 0, what="child pid")
            with open(f"{tmp}/out.log") as f:
                grandchild = int(f.read().split()[0])
            assert pid_exists(grandchild)
            await arb.stop_watcher("f")
            # The grandchild is not ours to reap: it is re-parented and reaped by init.
            await wait_until(lambda: not pid_exists(grandchild), what="grandchild gone")

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run(main(tmp))


def test_incr_decr_and_numprocesses() -> None:
    async def main() -> None:
        async with Arbiter([watcher("w", numprocesses=1)]) as arbiter:
            assert await arbiter.incr("w", 3) == 4
            assert len(arbiter.pids("w")) == 4
            high = arbiter.watcher("w").processes[4].pid
            assert await arbiter.decr("w", 2) == 2
            assert sorted(arbiter.watcher("w").processes) == [1, 2]
            assert high is not None and not pid_exists(high)
            assert await arbiter.set_numprocesses("w", 0) == 0
            assert arbiter.pids("w") == []

    run(main())


def test_singleton_never_runs_more_than_one() -> None:
    async def main() -> None:
        async with Arbiter([watcher("one", singleton=True)]) as arbiter:
            assert await arbiter.incr("one", 5) == 1
            assert len(arbiter.pids("one")) == 1

    run(main())


def test_respawn_false_leaves_the_slot_exited() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("once", "true", respawn=False)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")
            assert arbiter.statuses()["once"]["processes"][0]["exit_code"] == 0

    run(main())


def test_a_command_that_cannot_start_backs_off_instead_of_looping() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("missing", "/nonexistent/program")])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            first_delay = await rec.wait_for(
                ProcessStateChanged, _delayed_backoff
            )
            assert "not found" in first_delay.reason
            assert not arbiter.pids("missing")

    run(main())


def test_crash_loop_is_slowed_down() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("crash", "false")])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            event = await rec.wait_for(
                ProcessStateChanged, _delayed_backoff
            )
            assert "exit code 1" in event.reason
            spawns = len(rec.of(ProcessSpawned))
            assert spawns <= 4  # the free retries, then a delay

    run(main())


def test_max_age_recycles_processes() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("old", max_age=0.3, max_age_variance=0)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            first = arbiter.pids("old")[0]
            exited = await rec.wait_for(ProcessExited, lambda e: e.pid == first)
            assert exited.expected and exited.signal == signal.SIGTERM
            await rec.wait_for(ProcessSpawned, lambda e: e.pid != first)

    run(main())


def test_warmup_delay_keeps_processes_starting_then_running() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("warm", numprocesses=2, warmup_delay=0.2)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.wid == 2 and e.new == "running")
        spawned = rec.of(ProcessSpawned)
        assert spawned[1].at - spawned[0].at >= 0.2

    run(main())


def test_add_and_remove_watchers_at_runtime() -> None:
    async def main() -> None:
        async with Arbiter([]) as arbiter:
            await arbiter.add_watcher(watcher("late", numprocesses=2))
            pids = arbiter.pids("late")
            assert len(pids) == 2
            await arbiter.remove_watcher("late")
            assert "late" not in arbiter.statuses()
            assert not any(pid_exists(p) for p in pids)

    run(main())


def _signal_masks(pid: int | None) -> dict[str, int]:
    masks = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigIgn", "SigCgt"):
                masks[key] = int(value, 16)
    return masks


def _catches(pid: int | None, sig: int) -> bool:
    return bool(_signal_masks(pid)["SigCgt"] & (1 << (sig - 1)))


def _ignores(pid: int | None, sig: int) -> bool:
    return bool(_signal_masks(pid)["SigIgn"] & (1 << (sig - 1)))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def _delayed_backoff(event: ProcessStateChanged) -> bool:
    return event.new == "backoff" and "respawn in 0.0s" not in event.reason
