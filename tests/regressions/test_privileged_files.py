"""Issue 8 items 1, 2 and 18: files the root controller writes with its own privileges.

An unprivileged user (uid 65534) plants a symlink where the controller will write (pid
file, its own log, a watcher's log, the audit log) aimed at a root-owned 0600 file that
stands for /etc/shadow. Every such file must be opened without following symlinks and be
a regular file of the controller's user; a file that fails is refused with one clear
line naming it, and the target is never written. Item 18: folders that do not exist are
not made silently as root.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from ringleader.testing import wait_until_sync

from .conftest import (
    DEADLINE,
    RINGLEADER,
    Cleanup,
    StartController,
    needs_root,
    one_error_line,
    plant_symlink,
    toml_str,
    victim_file,
    write_config,
)

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""


@needs_root
def test_pidfile_temp_symlink_planted_by_other_user_is_not_followed(
        tmp_path: Path, sticky_dir: Path, cleanup: Cleanup) -> None:
    """`run --pidfile` in a shared folder: the attacker predicts the temporary name
    (PIDFILE.<pid>.tmp) and plants a symlink there. The target must stay untouched (the
    pid file is written through a fresh O_EXCL|O_NOFOLLOW file, or refused)."""
    victim, content = victim_file(tmp_path)
    config = write_config(tmp_path, SLEEPER)
    pidfile = sticky_dir / "ringleader.pid"
    # The shell's pid is the controller's after exec: the attacker's guess, made exact.
    shell = cleanup.popen(
        ["sh", "-c", 'read go; exec "$@"', "sh", *RINGLEADER, "run", str(config),
         "--pidfile", str(pidfile)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plant_symlink(sticky_dir / f"ringleader.pid.{shell.pid}.tmp", victim)
    assert shell.stdin is not None
    shell.stdin.write(b"go\n")
    shell.stdin.close()
    wait_until_sync(lambda: shell.poll() is not None or pidfile.exists(), timeout=DEADLINE,
                    what="the pid file or the controller's exit")
    assert victim.read_bytes() == content, "the root controller wrote through the symlink"


@needs_root
def test_controller_log_symlink_planted_by_other_user_is_refused(
        tmp_path: Path, sticky_dir: Path, cleanup: Cleanup) -> None:
    """`run --log-output` names a file in a shared folder where the attacker planted a
    symlink: refused with one line naming the file (a config error), target untouched."""
    victim, content = victim_file(tmp_path)
    config = write_config(tmp_path, SLEEPER)
    log = sticky_dir / "ringleader.log"
    plant_symlink(log, victim)
    proc = cleanup.popen([*RINGLEADER, "run", str(config), "--log-output", str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        err = b"(still running)"
    assert victim.read_bytes() == content, "log lines were appended to the symlink's target"
    assert proc.returncode not in (None, 0), "a log file behind a symlink must be refused"
    one_error_line(err.decode())
    assert str(log) in err.decode()


@needs_root
def test_watcher_log_symlink_planted_by_other_user_is_refused(
        tmp_path: Path, sticky_dir: Path, start_controller: StartController) -> None:
    """A watcher's `stdout_stream.filename` in a shared folder, where the attacker planted a
    symlink: the target is never written; the controller logs an error naming the file
    (output paused for that stream) and goes on."""
    victim, content = victim_file(tmp_path)
    logfile = sticky_dir / "printer.log"
    plant_symlink(logfile, victim)
    config = write_config(tmp_path, f"""
[watchers.printer]
cmd = "sh -c 'echo attacker-controlled-line; exec sleep 600'"
[watchers.printer.stdout_stream]
kind = "file"
filename = {toml_str(str(logfile))}
""")
    ctl = start_controller(config)
    ctl.wait_answering()
    wait_until_sync(lambda: victim.read_bytes() != content or str(logfile) in ctl.log_text(),
                    timeout=DEADLINE, what="the output to be written or refused")
    assert victim.read_bytes() == content, "output was written through the symlink"
    assert ctl.status() is not None, "the controller must go on"


@needs_root
def test_audit_log_symlink_planted_by_other_user_is_refused(
        tmp_path: Path, sticky_dir: Path, start_controller: StartController) -> None:
    """The operator names an audit log in a shared folder; the attacker plants a symlink
    there. Refused at start with one line naming the audit log (never appended to the
    target). If a fixer chooses to start anyway without the audit log, no mutating call
    may then succeed unaudited (item 12) - so a refused start is the simple answer."""
    victim, content = victim_file(tmp_path)
    audit = sticky_dir / "audit.log"
    plant_symlink(audit, victim)
    config = write_config(tmp_path, f"[ringleader]\naudit_log = {toml_str(str(audit))}\n"
                          + SLEEPER)
    ctl = start_controller(config)
    try:
        ctl.wait_active(timeout=10)
    except AssertionError:
        pass  # it refused to start: what we want, checked below
    else:
        ctl.cli("incr", "sleeper")  # an audited call
        ctl.terminate()
    assert victim.read_bytes() == content, "audit lines were appended to the symlink's target"
    assert ctl.proc.returncode not in (None, 0)
    log = ctl.log_text()
    assert "Traceback" not in log
    assert str(audit) in log


# -- item 18: missing folders -------------------------------------------------------------------

def _made_private_and_said_so(folder: Path, log: Callable[[], str]) -> None:
    mode = folder.stat().st_mode & 0o777
    assert mode & 0o077 == 0, f"{folder} was made with mode {mode:o}, not 0700"
    wait_until_sync(lambda: str(folder) in log(), timeout=5,
                    what=f"a word in the log about making {folder}")


def test_missing_endpoint_folder_is_refused_or_made_private(
        tmp_path: Path, start_controller: StartController) -> None:
    """Either refuse to start with one line naming the folder, or make it 0700 and log
    that it did."""
    folder = tmp_path / "run" / "ringleader"
    socket = folder / "ringleader.sock"
    config = write_config(tmp_path, f"[ringleader]\nendpoint = {toml_str('unix:' + str(socket))}"
                          + SLEEPER)
    ctl = start_controller(config, endpoint=f"unix:{socket}")
    wait_until_sync(lambda: ctl.proc.poll() is not None or ctl.status() is not None,
                    timeout=DEADLINE, what="the controller to answer or exit")
    assert "Traceback" not in ctl.log_text()
    if folder.exists():
        _made_private_and_said_so(folder, ctl.log_text)
    else:
        assert ctl.proc.poll() not in (None, 0)
        assert str(folder) in ctl.log_text(), "the refusal does not name the folder"


def test_missing_watcher_log_folder_is_refused_or_made_private(
        tmp_path: Path, start_controller: StartController) -> None:
    """A watcher's log file in a folder that does not exist: an error naming the folder
    (that stream's output paused), or the folder is made 0700 and the log says so."""
    folder = tmp_path / "logs" / "app"
    config = write_config(tmp_path, f"""
[watchers.printer]
cmd = "sh -c 'echo hello; exec sleep 600'"
[watchers.printer.stdout_stream]
kind = "file"
filename = {toml_str(str(folder / "printer.log"))}
""")
    ctl = start_controller(config)
    wait_until_sync(lambda: folder.exists() or str(folder) in ctl.log_text(),
                    timeout=DEADLINE, what="the folder to be made or refused")
    assert "Traceback" not in ctl.log_text()
    if folder.exists():
        _made_private_and_said_so(folder, ctl.log_text)
