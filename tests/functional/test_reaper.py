"""Both child-exit mechanisms with real children: pidfd (Linux) and SIGCHLD (fallback)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest

from ringleader.proc.reaper import Reaper, decode_status
from ringleader.testing import run_async


@pytest.mark.parametrize("use_pidfd", [True, False], ids=["pidfd", "sigchld"])
def test_every_child_is_reported_once_and_reaped(use_pidfd: bool) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop, use_pidfd=use_pidfd)
        results: dict[int, tuple[int | None, int | None]] = {}
        done = asyncio.Event()
        procs = [subprocess.Popen(["sh", "-c", f"exit {i}"]) for i in range(5)]
        procs.append(subprocess.Popen(["sleep", "600"]))
        expected = len(procs)

        def on_exit(pid: int, status: int) -> None:
            assert pid not in results
            results[pid] = decode_status(status)
            if len(results) == expected:
                done.set()

        for p in procs:
            reaper.watch(p.pid, lambda status, pid=p.pid: on_exit(pid, status))
        os.kill(procs[-1].pid, signal.SIGKILL)
        await done.wait()
        reaper.close()
        for i, p in enumerate(procs[:-1]):
            assert results[p.pid] == (i, None)
            p.returncode = i  # reaped by the Reaper, not by Popen
        assert results[procs[-1].pid] == (None, signal.SIGKILL)
        procs[-1].returncode = -9
        for p in procs:  # really reaped: no zombie left
            with pytest.raises(ChildProcessError):
                os.waitpid(p.pid, os.WNOHANG)

    run_async(main())
