"""Issue 8 items 19 (timeouts), 20, 21, 22, 23 and 24: `up`, `start` and hooks as a new
user meets them.

Item 19: `quit` and `up` against a hung (SIGSTOPped) controller honour their timeouts.
Item 20: after a crash, `up` waited for a watcher the state file keeps stopped. Item 21:
`up` with a crash-looping watcher waited the whole `--timeout`, then tore everything down.
Item 22: `start W` of a watcher that never becomes ready exited 0. Item 23: restarts for not
being ready were not counted and escaped the respawn policy. Item 24: a refusing
`before_start` hook at boot stopped the whole controller; hook modules were found only in
the current folder under `python -m`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ringleader.testing import wait_until_sync

from .conftest import (
    DEADLINE,
    Cleanup,
    Controller,
    StartController,
    cli,
    daemon_pid,
    one_error_line,
    toml_str,
    wait_gone,
    write_config,
)

SLEEPER = """
[watchers.{name}]
cmd = "sleep 600"
[watchers.{name}.stdout_stream]
kind = "null"
"""


def sleeper(name: str) -> str:
    return SLEEPER.format(name=name)


def up(config: Path, cleanup: Cleanup, *args: str,
       deadline: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """`ringleader up CONFIG`; the daemon it starts (pid file next to the config) is
    reaped at teardown, even when `up` itself has to be killed at `deadline`."""
    try:
        return cli("up", str(config), *args, cwd=config.parent, timeout=deadline)
    finally:
        pid = daemon_pid(config.parent / "ringleader.pid")
        if pid is not None:
            cleanup.track_tree(pid)


def _daemon(config: Path) -> Controller:
    pid = daemon_pid(config.parent / "ringleader.pid")
    assert pid is not None
    proc: Any = _Foreign(pid)
    return Controller(proc, f"unix:{config.parent / 'ringleader.sock'}",
                      config.parent / "ringleader.log")


class _Foreign:
    """A Popen look-alike for a daemon that is not our child (started by `up`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "X"
        if state in ("Z", "X"):
            self.returncode = -1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        wait_until_sync(lambda: self.poll() is not None, timeout=timeout or DEADLINE,
                        what=f"pid {self.pid} to exit")
        return -1


# -- item 19: timeouts against a hung controller ------------------------------------------------

def test_quit_honours_its_timeout_against_a_hung_controller(
        tmp_path: Path, start_controller: StartController) -> None:
    """Passes today (kept as a guard): `quit --timeout 2` against a SIGSTOPped controller
    gives up after about 2 s with exit 3 (unreachable)."""
    ctl = start_controller(write_config(tmp_path, sleeper("w")))
    ctl.wait_active()
    ctl.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = ctl.cli("quit", "--timeout", "2", timeout=15)
        elapsed = time.monotonic() - started
    finally:
        ctl.proc.send_signal(signal.SIGCONT)
    assert done.returncode == 3, done.stderr
    one_error_line(done.stderr)
    assert elapsed < 2 * 1.5 + 1, f"quit took {elapsed:.1f}s for --timeout 2"


def test_up_honours_its_timeout_against_a_hung_controller(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    """A SIGSTOPped controller holds the socket: `up --timeout 4` gives up within the
    timeout (plus start-up slack), exit 1, one line saying the endpoint is held by a
    controller that does not answer."""
    config = write_config(tmp_path, sleeper("w"))
    ctl = start_controller(config)
    ctl.wait_active()
    ctl.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = up(config, cleanup, "--timeout", "4", deadline=15)
        elapsed = time.monotonic() - started
    finally:
        ctl.proc.send_signal(signal.SIGCONT)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 4 * 1.25 + 1, f"up took {elapsed:.1f}s for --timeout 4"


# -- item 20 -----------------------------------------------------------------------------------

def test_up_after_a_crash_does_not_wait_for_a_watcher_stopped_at_runtime(
        tmp_path: Path, cleanup: Cleanup) -> None:
    config = write_config(tmp_path, sleeper("a") + sleeper("c"))
    done = up(config, cleanup, "--timeout", "15")
    assert done.returncode == 0, done.stderr
    daemon = _daemon(config)
    assert daemon.cli("stop", "c").returncode == 0
    workers = daemon.worker_pids()
    daemon.proc.kill()
    daemon.proc.wait()
    wait_gone(workers, what="the crashed controller's workers")
    done = up(config, cleanup, "--timeout", "8", deadline=15)
    assert done.returncode == 0, done.stderr
    watchers = _daemon(config).watchers()
    assert watchers["a"]["state"] == "active"
    assert watchers["c"]["state"] == "stopped", "the operator's stop was not kept"


# -- item 21 -----------------------------------------------------------------------------------

CRASHER = """
[watchers.crasher]
cmd = "sh -c 'echo crasher-was-here; exit 3'"
warmup_delay = 1  # never `running`: a ready check cannot catch it between two deaths
[watchers.crasher.backoff]
free_retries = 0
max_retries = 2
initial = 0.1
"""


def test_up_reports_a_failed_watcher_at_once_and_keeps_the_healthy_ones(
        tmp_path: Path, cleanup: Cleanup) -> None:
    """The crasher is `failed` within a second or two: `up --timeout 40` exits 1 well
    before its timeout (our deadline: 15 s), naming the watcher and its last exit code,
    and the controller goes on running the healthy watcher. (Today `up` looks at the
    watcher's state only: it says "started" while the crasher is in backoff, or waits the
    whole timeout when it first looks after the crasher failed.)"""
    config = write_config(tmp_path, sleeper("healthy") + CRASHER)
    done = up(config, cleanup, "--timeout", "40", deadline=15)
    assert done.returncode == 1, done.stderr
    assert "crasher" in done.stderr and "3" in done.stderr, done.stderr
    daemon = _daemon(config)
    assert daemon.proc.poll() is None, "the controller was torn down"
    assert daemon.watchers()["healthy"]["state"] == "active"


# -- items 22 and 23 ---------------------------------------------------------------------------

NEVER_READY = """
[watchers.silent]
cmd = "sleep 600"
readiness = "notify"
ready_timeout = {timeout}
autostart = {autostart}
[watchers.silent.backoff]
free_retries = 0
max_retries = 2
initial = 0.1
"""


def test_start_of_a_watcher_that_never_becomes_ready_exits_1(
        tmp_path: Path, start_controller: StartController) -> None:
    config = write_config(tmp_path, NEVER_READY.format(timeout=2, autostart="false"))
    ctl = start_controller(config)
    ctl.wait_answering()
    done = ctl.cli("start", "silent")
    assert done.returncode == 1, done.stdout
    one_error_line(done.stderr)
    assert "ready" in done.stderr


def test_restarts_for_not_being_ready_count_as_failed_starts(
        tmp_path: Path, start_controller: StartController) -> None:
    """With max_retries = 2, a process that is never ready is restarted (RESTARTS counts
    each) and then given up: the watcher shows `failed`."""
    config = write_config(tmp_path, NEVER_READY.format(timeout=1, autostart="true"))
    ctl = start_controller(config)
    ctl.wait_answering()

    def silent() -> dict[str, Any]:
        return ctl.watchers()["silent"]

    try:
        wait_until_sync(lambda: silent()["state"] == "failed", timeout=15,
                        what="the never-ready watcher to be given up")
    finally:
        restarts = silent()["processes"][0]["restarts"]
    assert restarts >= 1


# -- item 24 -----------------------------------------------------------------------------------

def test_refusing_before_start_hook_at_boot_skips_only_that_watcher(
        tmp_path: Path, start_controller: StartController) -> None:
    """circus skips that watcher: the others start, the controller runs, the log names the
    skipped watcher. `guarded` has the higher priority, so it starts first: `good` being
    active proves the start went on past the refusal."""
    config = write_config(tmp_path, sleeper("good") + """
[watchers.guarded]
cmd = "sleep 600"
priority = 10
[watchers.guarded.hooks]
before_start = { target = "exit 1", kind = "shell" }
""")
    ctl = start_controller(config)
    ctl.wait_active("good")
    assert ctl.watchers()["guarded"]["running"] == 0
    assert "guarded" in ctl.log_text()


HOOK_MODULE = """
def ok(watcher, arbiter, hook_name, **kwargs):
    with open({marker!r}, "w") as f:
        f.write(hook_name)
    return True
"""


def _hooked(tmp_path: Path, module_dir: Path, module: str, env: str = "") -> tuple[Path, Path]:
    marker = tmp_path / "hook-ran"
    module_dir.mkdir(parents=True, exist_ok=True)
    (module_dir / f"{module}.py").write_text(HOOK_MODULE.format(marker=str(marker)))
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir(exist_ok=True)
    config = write_config(conf_dir, sleeper("w") + env
                          + f'[watchers.w.hooks]\nbefore_start = "{module}.ok"\n')
    return config, marker


def test_hook_module_next_to_the_config_is_found_from_any_folder(
        tmp_path: Path, start_controller: StartController) -> None:
    """`run` from another folder (here: /) finds `myhooks.py` in the config's folder."""
    config, marker = _hooked(tmp_path, tmp_path / "conf", "rl_regression_hooks_a")
    ctl = start_controller(config, cwd="/")
    ctl.wait_active("w")
    assert marker.read_text() == "before_start"


def test_hook_module_on_the_watchers_pythonpath_is_found(
        tmp_path: Path, start_controller: StartController) -> None:
    lib = tmp_path / "lib"
    config, marker = _hooked(tmp_path, lib, "rl_regression_hooks_b",
                             env=f"[watchers.w.env]\nPYTHONPATH = {toml_str(str(lib))}\n")
    ctl = start_controller(config, cwd="/")
    ctl.wait_active("w")
    assert marker.read_text() == "before_start"


def test_check_reports_a_hook_that_cannot_be_imported(tmp_path: Path) -> None:
    config = write_config(tmp_path, sleeper("w") + '[watchers.w.hooks]\n'
                          'before_start = "rl_no_such_module_xyz.ok"\n')
    done = cli("check", str(config), cwd="/")
    assert done.returncode == 2, f"check accepted it:\n{done.stderr}"
    one_error_line(done.stderr)
    assert "rl_no_such_module_xyz" in done.stderr
