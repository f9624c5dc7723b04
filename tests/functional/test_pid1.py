"""Init duties with real processes: orphans adopted as PID 1 of a new PID namespace, or as
a child subreaper, are reaped; the engine's own children keep their statuses; SIGTERM to
PID 1 is a graceful stop with a meaningful exit code.

Each scenario runs in its own Python process: becoming PID 1 or a subreaper must not
change the pytest process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ringleader.proc.pid1 import exit_code_for

pytestmark = pytest.mark.timeout(60)

# Shared by the scenarios: a shell that starts N subshells blocked on a pipe and exits at
# once, so that they are orphaned (adopted by PID 1 or the subreaper); closing the write
# end of the pipe then makes them all exit, as zombies of the adopter.
COMMON = textwrap.dedent("""
    import asyncio, os, signal, subprocess, sys, time
    from ringleader.proc.pid1 import (OrphanReaper, adopted_children, exit_code_for,
                                      is_child_subreaper, is_pid1)

    def make_orphans(n):
        r, w = os.pipe()
        sh = subprocess.Popen(
            ["sh", "-c", f"for i in $(seq {n}); do (read x <&{r}; exit 3) & done"],
            pass_fds=(r,))
        os.close(r)
        return sh, w

    async def until(predicate, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def comm(pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f.read().strip()
        except OSError:
            return None

    def zombies_anywhere():
        found = []
        for e in os.listdir("/proc"):
            if e.isdigit():
                try:
                    with open(f"/proc/{e}/stat", "rb") as f:
                        if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                            found.append(int(e))
                except OSError:
                    pass
        return found

    async def reap_scenario(reaper, own, n=20):
        # An own child (the engine's, waited by its owner): its status must stay its own.
        mine = subprocess.Popen(["sh", "-c", "exit 7"])
        own.add(mine.pid)
        # A child that something else waits for but own_pids does not list: the grace
        # period leaves it to its waiter.
        proc = await asyncio.create_subprocess_exec("sh", "-c", "exit 5")
        sh, w = make_orphans(n)
        own.add(sh.pid)
        assert sh.wait(timeout=10) == 0
        await until(lambda: len(adopted_children(own)) == n, "the orphans to be adopted")
        os.close(w)  # the orphans exit now
        await until(lambda: not adopted_children(own), "the orphans to be reaped")
        assert reaper.reaped == n, reaper.reaped
        assert await proc.wait() == 5
        # Left as a zombie until now, never taken by the OrphanReaper:
        assert mine.wait(timeout=10) == 7
        own.discard(mine.pid)
        own.discard(sh.pid)
""")

PID1 = COMMON + textwrap.dedent("""
    async def main():
        assert is_pid1()
        loop = asyncio.get_running_loop()
        own = set()
        reaper = OrphanReaper()
        reaper.start(loop, lambda: set(own))
        assert not is_child_subreaper()  # PID 1 needs no subreaper flag
        await reap_scenario(reaper, own)
        assert not zombies_anywhere(), zombies_anywhere()
        # The graceful stop: SIGTERM (from outside the namespace) stops the workers.
        stop = asyncio.Event()
        got = []
        loop.add_signal_handler(signal.SIGTERM, lambda: (got.append(signal.SIGTERM),
                                                        stop.set()))
        worker = subprocess.Popen(["sleep", "600"])
        own.add(worker.pid)
        print("ready", flush=True)
        await stop.wait()
        worker.terminate()
        status = worker.wait(timeout=10)
        reaper.close()
        print(f"stopped worker {status}", flush=True)
        return exit_code_for(stop_signal=got[0])

    sys.exit(asyncio.run(main()))
""")

SUBREAPER = COMMON + textwrap.dedent("""
    async def main():
        assert not is_pid1()
        loop = asyncio.get_running_loop()
        own = set()
        reaper = OrphanReaper()
        reaper.start(loop, lambda: set(own))  # not PID 1: becomes a subreaper
        assert is_child_subreaper()
        await reap_scenario(reaper, own)
        # A daemonised grandchild still running when the controller stops: terminated.
        sh = subprocess.Popen(["sh", "-c", "trap 'exit 0' TERM; sleep 600 & echo $!; wait"],
                              stdout=subprocess.PIPE, start_new_session=True)
        own.add(sh.pid)
        launcher = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!"],
                                    stdout=subprocess.PIPE)
        sleeps = [int(sh.stdout.readline()), int(launcher.stdout.readline())]
        sh.stdout.close()
        launcher.stdout.close()
        assert launcher.wait(timeout=10) == 0
        # Until exec, sh's child runs sh's TERM trap handler, and a signal caught then is
        # lost with the exec: wait for both to be sleep(1) proper.
        await until(lambda: [comm(p) for p in sleeps] == ["sleep", "sleep"], "the sleeps")
        orphan = sleeps[1]
        await until(lambda: orphan in adopted_children(own), "the sleep to be adopted")
        own.discard(sh.pid)  # not ours any more: a leftover as well
        before = len(reaper.recent)
        # sh, its sleep (adopted once sh exits) and the other sleep: all stopped by SIGTERM
        # (a slow SIGKILL round would take the whole timeout).
        assert await reaper.terminate_orphans(timeout=30) == 3
        statuses = {pid: st for pid, st in list(reaper.recent)[before:]}
        assert len(statuses) == 3, statuses
        assert statuses.pop(sh.pid) == 0, statuses  # its trap: exit 0
        assert all(os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM
                   for st in statuses.values()), statuses
        sh.returncode = 0  # reaped by the OrphanReaper, not by Popen
        assert not adopted_children(set()), adopted_children(set())
        reaper.close()
        print("ok", flush=True)

    asyncio.run(main())
""")


def _unshare_or_skip() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not installed")
    cmd = [unshare, "--pid", "--fork", "--mount-proc"]
    probe = subprocess.run([*cmd, "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip("a new PID namespace is not permitted here: "
                    + probe.stderr.decode().strip())
    return cmd


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_pid1_reaps_orphans_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    cmd = _unshare_or_skip()
    script = tmp_path / "pid1.py"
    script.write_text(PID1)
    proc = subprocess.Popen([*cmd, sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
        (init,) = _children(proc.pid)  # the namespace's PID 1, seen from here
        os.kill(init, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert out == b"stopped worker -15\n", err.decode()
    assert proc.returncode == 0, err.decode()


def test_subreaper_reaps_orphans_and_terminates_leftovers(tmp_path: Path) -> None:
    script = tmp_path / "subreaper.py"
    script.write_text(SUBREAPER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=50)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"ok\n"


def test_exit_codes() -> None:
    assert exit_code_for() == 0
    assert exit_code_for(stop_signal=signal.SIGTERM) == 0
    assert exit_code_for(start_failed=True) == 1
    assert exit_code_for(failed=True, stop_signal=signal.SIGTERM) == 1
    assert exit_code_for(stop_signal=signal.SIGINT, forced=True) == 130
    assert exit_code_for(stop_signal=signal.SIGTERM, forced=True) == 143
    assert exit_code_for(forced=True) == 1  # forced by `quit`? no signal to report


def test_orphan_reaper_never_takes_the_callers_children() -> None:
    # Even with no grace period, a zombie child listed by own_pids is left to its owner.
    import asyncio

    from ringleader.proc.pid1 import OrphanReaper

    async def main() -> int:
        loop = asyncio.get_running_loop()
        child = subprocess.Popen(["sh", "-c", "exit 9"])
        reaper = OrphanReaper(grace=0.0)
        reaper.start(loop, lambda: {child.pid}, subreaper=False)
        try:
            deadline = time.monotonic() + 10
            while _state(child.pid) != "Z":  # a zombie, and the reaper saw SIGCHLD
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert reaper.scan() == []
        finally:
            reaper.close()
        return child.wait(timeout=10)

    assert asyncio.run(main()) == 9


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[0].decode()
