"""Runtime changes survive a controller restart (clean quit and SIGKILL), and PID 1 mode
in a new PID namespace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import children_of, pid_exists, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


class Controller:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "ringleader.toml"
        self.config.write_text(textwrap.dedent("""
            [watchers.web]
            cmd = "sleep 600"
            numprocesses = 2
            [watchers.web.stdout_stream]
            kind = "null"
            [watchers.jobs]
            cmd = "sleep 601"
        """))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.tmp / "controller.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([*RINGLEADER, "run", str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_until_sync(lambda: self.cli("status").returncode == 0, timeout=20,
                        what="the controller to answer")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RINGLEADER, *args, "-e", f"unix:{self.tmp}/ringleader.sock"],
                              capture_output=True, text=True, timeout=60)

    def status(self) -> dict[str, dict[str, object]]:
        data = json.loads(self.cli("status", "--json").stdout)
        return {w["name"]: w for w in data["watchers"]}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        pids = [p for w in self.status().values() for p in _pids(w)]
        self.proc.send_signal(sig)
        self.proc.wait(30)
        wait_until_sync(lambda: not any(pid_exists(p) for p in pids), timeout=15,
                        what="the workers to be gone")


def _pids(watcher: dict[str, object]) -> list[int]:
    procs = watcher["processes"]
    assert isinstance(procs, list)
    return [p["pid"] for p in procs if p["pid"]]


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Controller]:
    c = Controller(tmp_path)
    yield c
    if c.proc is not None and c.proc.poll() is None:
        c.proc.kill()
        c.proc.wait(10)


def _change_things(c: Controller) -> None:
    assert c.cli("incr", "web", "3").returncode == 0
    assert c.cli("add", "extra", "sleep 602", "--start").returncode == 0
    assert c.cli("stop", "jobs").returncode == 0
    assert c.cli("set", "web", "graceful_timeout", "7").returncode == 0


def _check_restored(c: Controller) -> None:
    status = c.status()
    assert status["web"]["numprocesses"] == 5 and status["web"]["running"] == 5
    assert status["extra"]["running"] == 1
    assert status["jobs"]["state"] == "stopped"
    options = json.loads(c.cli("get", "web", "graceful_timeout", "--json").stdout)
    assert options["options"]["graceful_timeout"] == 7


@pytest.mark.parametrize("how", ["quit", "sigkill"])
def test_runtime_changes_survive_a_restart(controller: Controller, how: str) -> None:
    controller.start()
    _change_things(controller)
    if how == "quit":
        controller.stop(signal.SIGTERM)
    else:
        controller.stop(signal.SIGKILL)  # the guardian takes the workers down
    controller.start()
    _check_restored(controller)
    controller.stop()


def test_the_config_file_wins_for_a_watcher_it_changed(controller: Controller) -> None:
    controller.start()
    assert controller.cli("incr", "web", "2").returncode == 0
    assert controller.cli("incr", "jobs", "1").returncode == 0
    controller.stop()
    controller.config.write_text(controller.config.read_text().replace("sleep 600",
                                                                       "sleep 650"))
    controller.start()
    status = controller.status()
    assert status["web"]["numprocesses"] == 2  # changed in the file: the file wins
    assert status["jobs"]["numprocesses"] == 2  # unchanged in the file: the runtime wins
    controller.stop()


UNSHARE = shutil.which("unshare")


@pytest.mark.skipif(UNSHARE is None or os.geteuid() != 0, reason="needs root and unshare")
def test_pid1_in_a_new_pid_namespace_reaps_orphans_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "ringleader.toml"
    # Each worker leaves an orphan behind that exits: PID 1 must reap it.
    config.write_text(textwrap.dedent("""
        [watchers.orphaner]
        cmd = "/bin/sh -c '(sleep 0.2 &) ; exec sleep 600'"
        numprocesses = 3
    """))
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen(
            [UNSHARE or "unshare", "--pid", "--fork", "--mount-proc", *RINGLEADER, "run",
             str(config)], stdout=subprocess.DEVNULL, stderr=log)
    ns_pid1 = 0
    try:
        sock = tmp_path / "ringleader.sock"
        wait_until_sync(sock.exists, timeout=20, what="the control socket")
        cli = [*RINGLEADER, "status", "--json", "-e", f"unix:{sock}"]

        def running() -> int:
            result = subprocess.run(cli, capture_output=True, text=True, timeout=30)
            return int(json.loads(result.stdout)["watchers"][0]["running"]) if result.stdout else 0

        wait_until_sync(lambda: running() == 3, timeout=20, what="3 workers")
        ns_pid1 = _namespace_init(proc.pid)

        def zombies() -> int:
            return sum(1 for p in children_of(ns_pid1, zombies=True) if _state(p) == "Z")

        # The orphans (sleep 0.2) exit: no zombie may stay behind.
        wait_until_sync(lambda: zombies() == 0 and len(children_of(ns_pid1, zombies=True)) == 4,
                        timeout=20, what="orphans reaped (3 workers + the guardian left)")
        os.kill(ns_pid1, signal.SIGTERM)  # to PID 1 of the namespace, from outside
        assert proc.wait(30) == 0, (tmp_path / "log").read_text()
    finally:
        if ns_pid1 and pid_exists(ns_pid1):
            os.kill(ns_pid1, signal.SIGKILL)  # takes the whole namespace down
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _namespace_init(unshare_pid: int) -> int:
    (child,) = children_of(unshare_pid, zombies=True)
    return child


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return "gone"
