"""run_command: a helper command's output is bounded, and a cancelled caller still reaps it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ringleader.proc.command import run_command
from ringleader.testing import run_async as run
from ringleader.testing import wait_until

ENV = {"PATH": os.environ.get("PATH", os.defpath)}


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except FileNotFoundError:
        return None



def test_run_command_output_is_bounded_and_cancellation_reaps(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        result = await run_command(
            ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo END"],
            env=ENV, timeout=10, limit=1000)
        assert result.ok and result.truncated
        assert len(result.output) == 1000 and result.output.endswith(b"xEND\n")

        task = asyncio.ensure_future(run_command(
            ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 600"], env=ENV, timeout=60))
        await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "",
                         timeout=5, what="command started")
        pid = int(pidfile.read_text())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: _proc_state(pid) is None, timeout=5, what="reaped")

    run(main())
