"""A crash-looping watcher (its command exits at once, respawn on) was shown as
`active 0/1` by `ringleader status` (and the dashboard, which shows the same answer), and
`status` exited 0: its only process sat in `backoff` between two delayed respawns, and
only `flapping` and `failed` slots made the watcher look parked. It must show `backoff`
(or `flapping`) with when the next retry is due, and `status` must exit 4.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ringleader.testing import wait_until_sync

from .conftest import DEADLINE, Controller, StartController, write_config

EXIT_DEGRADED = 4
RETRY = 60.0  # long enough that the slot stays parked while the test looks at it


def _watcher(ctl: Controller, name: str = "crash") -> dict[str, Any]:
    return ctl.watchers()[name]


def _start(tmp_path: Path, start_controller: StartController, options: str) -> Controller:
    config = write_config(tmp_path, f"""
[watchers.crash]
cmd = "false"
{options}
[watchers.crash.stdout_stream]
kind = "null"
""")
    ctl = start_controller(config)
    ctl.wait_answering()
    return ctl


def _wait_parked(ctl: Controller, state: str) -> dict[str, Any]:
    """Until the slot is parked in `state` (its respawn delayed); the watcher's answer."""
    wait_until_sync(lambda: _watcher(ctl)["processes"][0]["state"] == state,
                    timeout=DEADLINE, interval=0.05, what=f"crash.1 {state}")
    return _watcher(ctl)


@pytest.mark.parametrize(("options", "state"), [
    pytest.param(f"[watchers.crash.backoff]\nfree_retries = 0\ninitial = {RETRY}\n"
                 f"max = {RETRY}\n", "backoff", id="backoff"),
    pytest.param(f"[watchers.crash.flapping]\nattempts = 1\nretry_in = {RETRY}\n",
                 "flapping", id="flapping"),
])
def test_a_parked_watcher_shows_why_and_when_it_retries(
        tmp_path: Path, start_controller: StartController, options: str, state: str) -> None:
    ctl = _start(tmp_path, start_controller, options)
    before = time.time()
    info = _wait_parked(ctl, state)
    assert info["state"] == state, info
    assert info["detail"].startswith("crash.1: exit code 1"), info
    # when the next try is due, as unix time (as the cluster's disconnected_since)
    assert before < info["retry_at"] <= time.time() + RETRY, info
    assert before < info["processes"][0]["retry_at"] <= time.time() + RETRY, info

    for args in (("status",), ("status", "crash")):
        done = ctl.cli(*args)
        assert done.returncode == EXIT_DEGRADED, (args, done.stdout, done.stderr)
        assert state in done.stdout and "retry in" in done.stdout, (args, done.stdout)
    done = ctl.cli("status", "--json")
    assert done.returncode == EXIT_DEGRADED, done.stderr
    assert json.loads(done.stdout)["watchers"][0]["state"] == state


def test_a_crash_loop_with_the_default_policy_shows_backoff(
        tmp_path: Path, start_controller: StartController) -> None:
    """`cmd = "false"` and nothing else: a few immediate respawns, then growing delays,
    shown as they come (the console's side is the test above's)."""
    ctl = _start(tmp_path, start_controller, "")
    seen: list[dict[str, Any]] = []

    def backing_off() -> bool:
        info = _watcher(ctl)
        seen.append(info)  # the last one is kept
        return info["state"] == "backoff" and info["retry_at"] - time.time() > 1.0

    wait_until_sync(backing_off, timeout=DEADLINE, interval=0.05,
                    what="the watcher shown as backoff")
    info = seen[-1]
    assert info["running"] == 0 and "respawn in" in info["detail"], info


def test_a_watcher_whose_process_runs_is_active(
        tmp_path: Path, start_controller: StartController) -> None:
    """The other side: a healthy watcher stays `active`, `status` exits 0, no retry."""
    config = write_config(tmp_path, '[watchers.ok]\ncmd = "sleep 600"\n')
    ctl = start_controller(config)
    ctl.wait_active()
    info = _watcher(ctl, "ok")
    assert info["state"] == "active" and info.get("retry_at") is None, info
    done = ctl.cli("status")
    assert done.returncode == 0, (done.stdout, done.stderr)
