"""Issue 13: `up` keeps the workers' console output out of the controller's log unless
asked (--worker-output), and the log it writes is reopened on SIGUSR1 (stderr too)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from ops_controller import DEADLINE, cli

from ringleader.testing import wait_until_sync

CHATTY = """
[watchers.chatty]
cmd = "sh -c 'echo chatty-line; exec sleep 600'"
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].startswith(" Z")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Path]:
    """A config in tmp_path; the daemon `up` started from it is stopped afterwards."""
    config = tmp_path / "ringleader.toml"
    yield config
    try:
        pid = int((tmp_path / "ringleader.pid").read_text())
    except (OSError, ValueError):
        return
    cli("quit", "-c", str(config))
    try:
        wait_until_sync(lambda: not _alive(pid), timeout=DEADLINE, what="the daemon's exit")
    except TimeoutError:
        os.killpg(pid, signal.SIGKILL)
        raise


def _logs_have_the_line(config: Path) -> None:
    wait_until_sync(lambda: "chatty-line" in cli("logs", "chatty", "-c", str(config)).stdout,
                    timeout=DEADLINE, what="the line in `ringleader logs`")


def test_up_keeps_worker_output_out_of_its_log(daemon: Path, tmp_path: Path) -> None:
    daemon.write_text(CHATTY)
    up = cli("up", str(daemon))
    assert up.returncode == 0, up.stderr
    _logs_have_the_line(daemon)  # still kept for `ringleader logs`
    log = (tmp_path / "ringleader.log").read_text()
    assert "controller started" in log
    assert "chatty-line" not in log


def test_up_worker_output_writes_it_to_the_log(daemon: Path, tmp_path: Path) -> None:
    daemon.write_text(CHATTY)
    up = cli("up", str(daemon), "--worker-output")
    assert up.returncode == 0, up.stderr
    log = tmp_path / "ringleader.log"
    wait_until_sync(lambda: "chatty.1 | chatty-line" in log.read_text(), timeout=DEADLINE,
                    what="the worker's line in the log")


def test_up_log_is_reopened_on_usr1_with_stderr(daemon: Path, tmp_path: Path) -> None:
    daemon.write_text(CHATTY)
    assert cli("up", str(daemon), "--log-format", "json").returncode == 0
    pid = int((tmp_path / "ringleader.pid").read_text())
    log = tmp_path / "ringleader.log"
    os.rename(log, tmp_path / "ringleader.log.1")
    os.kill(pid, signal.SIGUSR1)
    wait_until_sync(lambda: log.exists() and "log files reopened" in log.read_text(),
                    timeout=DEADLINE, what="a fresh ringleader.log")
    # the controller's stderr (tracebacks, a crash) follows the log to the new file
    assert os.readlink(f"/proc/{pid}/fd/2") == str(log)
    assert os.readlink(f"/proc/{pid}/fd/1") == str(log)
    assert '"msg": "log files reopened"' in log.read_text()
