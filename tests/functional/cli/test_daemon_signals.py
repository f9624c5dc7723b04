"""Issue 13: the controller and the signals operators and tools send (logrotate's USR1,
a terminal's WINCH, a closed pipe's PIPE, HUP): none kills it, the logs are reopened."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from ops_controller import TALKER, Controller

from ringleader.testing import wait_until_sync

TWO_SLEEPERS = """
[watchers.sleeper]
cmd = "sleep 600"
numprocesses = 2
"""


def _mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _count(path: Path, text: str) -> int:
    try:
        return path.read_text().count(text)
    except FileNotFoundError:
        return 0


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:  # between a rotation's rename and its new file
        return 0


def _worker_pids(ctl: Controller) -> set[int]:
    return {p["pid"] for p in ctl.json("status")["watchers"][0]["processes"]}


def test_no_common_signal_kills_the_controller(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    log = tmp_path / "ctl.log"
    ctl = controllers(TWO_SLEEPERS, args=("--log-output", str(log)))
    pid = ctl.proc.pid
    workers = _worker_pids(ctl)
    # caught (queued to the loop) or ignored: never the default action
    handled = _mask(pid, "SigCgt") | _mask(pid, "SigIgn")
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGPIPE,
                signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        assert handled & (1 << (sig - 1)), sig.name
    marker = "log files reopened"
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGPIPE,
                signal.SIGHUP):
        before = _count(log, marker)
        os.kill(pid, sig)
        if sig not in (signal.SIGUSR1, signal.SIGUSR2):
            # a USR1 after it: its line proves the signal before it was delivered, survived
            os.kill(pid, signal.SIGUSR1)
        wait_until_sync(lambda b=before: _count(log, marker) > b or ctl.proc.poll() is not None,
                        timeout=20, what=f"the controller to handle {sig.name}")
        assert ctl.proc.poll() is None, f"{sig.name} killed it:\n{log.read_text()}"
    wait_until_sync(lambda: "config reloaded" in log.read_text(), timeout=20,
                    what="the HUP reload")
    assert ctl.proc.poll() is None
    assert _worker_pids(ctl) == workers  # none of them touched the workers
    assert "Traceback" not in log.read_text()


def test_usr1_reopens_the_controller_log_and_the_watchers_logs(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    (tmp_path / "talker.py").write_text(TALKER)
    log, out = tmp_path / "ctl.log", tmp_path / "talker.out"
    ctl = controllers(f"""
[watchers.talker]
cmd = "python3 -u {tmp_path}/talker.py"
stdout_stream = {{ class = "file", filename = "{out}" }}
""", args=("--log-output", str(log)))
    wait_until_sync(lambda: "early out" in out.read_text() if out.exists() else False,
                    timeout=20, what="the worker's first line")
    os.rename(log, tmp_path / "ctl.log.1")
    os.rename(out, tmp_path / "talker.out.1")
    os.kill(ctl.proc.pid, signal.SIGUSR1)
    wait_until_sync(lambda: _count(log, "log files reopened") == 1, timeout=20,
                    what="a fresh ctl.log")
    assert "log files reopened" not in (tmp_path / "ctl.log.1").read_text()
    assert ctl("signal", "talker", "USR1").returncode == 0
    wait_until_sync(lambda: "late out" in out.read_text() if out.exists() else False,
                    timeout=20, what="the worker's line in a fresh talker.out")
    assert "late out" not in (tmp_path / "talker.out.1").read_text()


def test_hup_reloads_and_reopens_the_controller_log(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    log = tmp_path / "ctl.log"
    ctl = controllers(TWO_SLEEPERS, args=("--log-output", str(log)))
    os.rename(log, tmp_path / "ctl.log.1")
    os.kill(ctl.proc.pid, signal.SIGHUP)
    wait_until_sync(lambda: "config reloaded" in log.read_text() if log.exists() else False,
                    timeout=20, what="the reload's line in a fresh ctl.log")
    assert ctl.proc.poll() is None


def test_the_controller_log_rotates_by_size(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    log = tmp_path / "ctl.log"
    ctl = controllers(TWO_SLEEPERS.replace("[watchers.sleeper]", """
[ringleader]
log_max_bytes = 600
log_backups = 2

[watchers.sleeper]"""), args=("--log-output", str(log), "--log-level", "debug"))
    lines = 0
    while not (tmp_path / "ctl.log.2").exists():
        assert lines < 40, "no second rotation after 40 lines"
        before = (_inode(log), _count(log, "log files reopened"))
        os.kill(ctl.proc.pid, signal.SIGUSR1)  # one by one: signals sent at once merge
        lines += 1
        wait_until_sync(lambda b=before: _inode(log) not in (0, b[0])
                        or _count(log, "log files reopened") > b[1],
            timeout=20, what="the line (or a rotation)")
    for name in ("ctl.log", "ctl.log.1", "ctl.log.2"):
        assert (tmp_path / name).stat().st_size <= 600
    assert not (tmp_path / "ctl.log.3").exists()
    assert ctl.proc.poll() is None
