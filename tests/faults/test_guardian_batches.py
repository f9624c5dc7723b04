"""Fault: the controller is SIGKILLed. The guardian hears of a burst of spawns in one write,
and of a respawn with the reap: every worker the controller reported must still be taken
down with it (no orphan)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import pid_exists, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
WORKERS = 70  # more than two batches of 32 spawns


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    config = tmp_path / "ringleader.toml"
    config.write_text(f'[watchers.w]\ncmd = "sleep 600"\nnumprocesses = {WORKERS}\n'
                      "warmup_delay = 0\n[watchers.w.stdout_stream]\nkind = \"null\"\n")
    proc = subprocess.Popen([*RINGLEADER, "run", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    yield proc, config
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def _pids(config: Path) -> list[int]:
    out = subprocess.run([*RINGLEADER, "status", "w", "-c", str(config), "--json"],
                         capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        return []
    watcher = json.loads(out.stdout)
    return [p["pid"] for p in watcher["processes"] if p["state"] == "running" and p["pid"]]


def _all_running(config: Path) -> list[int]:
    pids: list[int] = []

    def ready() -> bool:
        pids[:] = _pids(config)
        return len(pids) == WORKERS

    wait_until_sync(ready, timeout=60, what=f"{WORKERS} running workers")
    return pids


def _killed_with_the_controller(proc: subprocess.Popen[bytes], pids: list[int]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    wait_until_sync(lambda: not any(pid_exists(p) for p in pids), timeout=30,
                    what="the guardian to kill every worker")


def test_a_burst_of_spawns_dies_with_the_controller(
        controller: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, config = controller
    _killed_with_the_controller(proc, _all_running(config))


def test_a_respawned_worker_dies_with_the_controller(
        controller: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, config = controller
    before = _all_running(config)
    os.kill(before[0], signal.SIGKILL)
    after: list[int] = []

    def respawned() -> bool:
        after[:] = _pids(config)
        return len(after) == WORKERS and before[0] not in after

    wait_until_sync(respawned, timeout=60, what="the respawn")
    _killed_with_the_controller(proc, after)
