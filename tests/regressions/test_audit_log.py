"""Issue 8 item 12: the audit log must keep recording, or the change must not happen.

It was never reopened after being deleted or rotated away (entries went to a deleted
inode, silently), and a failed audit write let the change through (fail open). Required:
reopen on SIGHUP and when the file's inode is gone; an audited change that cannot be
recorded is refused with 503 (unless the operator opted out).
"""

from __future__ import annotations

import json
import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path

from ringleader.testing import wait_until_sync

from .conftest import Controller, StartController, request, toml_str, write_config

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""


def _audited(tmp_path: Path, start_controller: StartController,
             preexec_fn: Callable[[], None] | None = None) -> tuple[Controller, Path]:
    audit = tmp_path / "audit.log"
    config = write_config(tmp_path, f"[ringleader]\naudit_log = {toml_str(str(audit))}\n"
                          + SLEEPER)
    ctl = start_controller(config, preexec_fn=preexec_fn)
    ctl.wait_active()
    return ctl, audit


def _ops(audit: Path) -> list[str]:
    try:
        return [json.loads(line)["op"] for line in audit.read_text().splitlines()]
    except FileNotFoundError:
        return []


def test_audit_log_is_recreated_after_it_is_deleted(
        tmp_path: Path, start_controller: StartController) -> None:
    ctl, audit = _audited(tmp_path, start_controller)
    assert ctl.cli("incr", "sleeper").returncode == 0
    assert _ops(audit) == ["incr"]
    audit.unlink()
    assert ctl.cli("decr", "sleeper").returncode == 0
    assert _ops(audit) == ["decr"], "the entry went to the deleted file"


def test_audit_log_is_reopened_on_sighup_after_rotation(
        tmp_path: Path, start_controller: StartController) -> None:
    """logrotate's way: rename, then SIGHUP; the next entry goes to a new file."""
    ctl, audit = _audited(tmp_path, start_controller)
    assert ctl.cli("incr", "sleeper").returncode == 0
    audit.rename(tmp_path / "audit.log.1")
    ctl.proc.send_signal(signal.SIGHUP)
    ctl.wait_log("config reloaded")
    assert ctl.cli("decr", "sleeper").returncode == 0
    assert _ops(audit) == ["decr"], "the entry went to the rotated file"
    assert _ops(tmp_path / "audit.log.1") == ["incr"]


def test_audited_change_that_cannot_be_recorded_is_refused(
        tmp_path: Path, start_controller: StartController) -> None:
    """The audit log cannot grow (the controller's RLIMIT_FSIZE is its current size: every
    write fails with EFBIG, as on a full disk): `incr` is refused with 503 and the watcher
    keeps its one process."""
    limit = 1 << 20
    audit = tmp_path / "audit.log"
    with open(audit, "wb") as f:
        f.write(b"x" * (limit - 1) + b"\n")
    os.chmod(audit, 0o600)

    def cap_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    ctl, _ = _audited(tmp_path, start_controller, preexec_fn=cap_file_size)
    answer = ctl.raw(request("POST", "/v1/watchers/sleeper/incr", b'{"count": 1}'))
    assert answer.status == 503, (answer.status, answer.body)
    assert answer.error == "unavailable"
    assert ctl.watchers()["sleeper"]["numprocesses"] == 1, "the unaudited change happened"
    wait_until_sync(lambda: str(audit) in ctl.log_text(), timeout=5,
                    what="an error naming the audit log")
