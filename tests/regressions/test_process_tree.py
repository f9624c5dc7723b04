"""Issue 8 items 10, 11 and 19 (log): no process escapes, and the log says things once.

Item 10: a killed guardian went unnoticed (a zombie, nothing logged) and a later SIGKILL of
the controller left every worker running. Item 11: orphans - a setsid grandchild survived
a controller SIGKILL even in a `[cgroup]` watcher (and the cgroup folder stayed), a
graceful `quit` left workers' children running, and the SIGKILL escalation after
`graceful_timeout` reached only the worker's pid.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from ringleader.testing import python_cmd, wait_until_sync

from .conftest import (
    DEADLINE,
    Cleanup,
    Controller,
    StartController,
    alive,
    toml_str,
    wait_gone,
    write_config,
)


def guardians_of(pid: int) -> list[int]:
    """Live (non-zombie) children of `pid` running the guardian script."""
    found = []
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if (child.status() != psutil.STATUS_ZOMBIE
                    and "ringleader-guardian" in child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def zombie_children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children()
                if c.status() == psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return []


def read_pid(path: Path) -> int:
    wait_until_sync(lambda: path.exists() and path.read_text().strip().isdigit(),
                    timeout=DEADLINE, what=f"a pid in {path}")
    return int(path.read_text())


# -- item 10 -----------------------------------------------------------------------------------

def test_killed_guardian_is_replaced_and_workers_still_die_with_the_controller(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    """kill -9 of the guardian: the controller reaps it, logs it, starts a new one that
    knows the live process groups; a later SIGKILL of the controller then still takes
    every worker down."""
    config = write_config(tmp_path, '[watchers.w]\ncmd = "sleep 600"\nnumprocesses = 2\n')
    ctl = start_controller(config)
    ctl.wait_active()
    workers = ctl.worker_pids()
    for pid in workers:
        cleanup.track(pid)
    (old,) = guardians_of(ctl.proc.pid)
    os.kill(old, signal.SIGKILL)
    wait_until_sync(lambda: any(g != old for g in guardians_of(ctl.proc.pid)), timeout=10,
                    what="a new guardian")
    assert old not in zombie_children(ctl.proc.pid), "the old guardian is left a zombie"
    assert "guardian" in ctl.log_text(), "the guardian's death was not logged"
    ctl.proc.kill()
    ctl.proc.wait(DEADLINE)
    wait_gone(workers, what="the workers of the killed controller")


# -- item 11 -----------------------------------------------------------------------------------

def _cgroup_dirs(pid: int) -> list[Path]:
    """The cgroup folders `pid` is in (v1: one per hierarchy; v2: one), under
    /sys/fs/cgroup, for the cgroups Ringleader made (a "ringleader" component)."""
    mounts: dict[str, Path] = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, where, kind, opts = line.split()[:4]
            if kind == "cgroup2":
                mounts[""] = Path(where)
            elif kind == "cgroup":
                for opt in opts.split(","):
                    mounts.setdefault(opt, Path(where))
    found = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "/ringleader" not in path:
                continue
            first = controllers.split(",")[0] if controllers else ""
            base = mounts.get(first)
            if base is not None and (base / path.lstrip("/")).is_dir():
                found.append(base / path.lstrip("/"))
    return found


def _remove_cgroups(dirs: list[Path]) -> None:
    """Teardown: the leaf and its (instance) parent, where empty."""
    for d in dirs:
        for folder in (d, d.parent):
            try:
                folder.rmdir()
            except OSError:
                pass


CGROUP_WORKER = """
[watchers.daemonizer]
cmd = {cmd}
[watchers.daemonizer.cgroup]
"""


def _contained(ctl: Controller, worker: int, grandchild: int) -> list[Path]:
    # `running` can come before the trampoline has moved the worker into its cgroup.
    wait_until_sync(lambda: _cgroup_dirs(worker) or "without containment" in ctl.log_text(),
                    timeout=DEADLINE, what="the worker in its cgroup")
    dirs = _cgroup_dirs(worker)
    if not dirs:
        pytest.skip(f"no cgroup here for the watcher:\n{ctl.log_text()[-2000:]}")
    assert set(_cgroup_dirs(grandchild)) == set(dirs)
    return dirs


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_setsid_grandchild_of_cgroup_watcher_dies_with_a_killed_controller(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    """With a cgroup, every stop path kills everything in it - the controller's own
    SIGKILL included (the guardian, or the next start, kills the cgroup)."""
    pidfile = tmp_path / "grandchild.pid"
    cmd = f"sh -c 'setsid sleep 600 & echo $! > {pidfile}; exec sleep 600'"
    config = write_config(tmp_path, CGROUP_WORKER.format(cmd=toml_str(cmd)))
    ctl = start_controller(config)
    ctl.wait_active()
    (worker,) = ctl.worker_pids()
    grandchild = read_pid(pidfile)
    cleanup.track(grandchild)
    dirs = _contained(ctl, worker, grandchild)
    try:
        ctl.proc.kill()
        ctl.proc.wait(DEADLINE)
        wait_gone([worker], what="the worker")
        wait_gone([grandchild], timeout=10, what="the setsid grandchild")
    finally:
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
            wait_gone([grandchild], timeout=5)
        _remove_cgroups(dirs)


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_leftover_cgroup_of_killed_controller_is_swept_at_next_start(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    cmd = "sleep 600"
    config = write_config(tmp_path, CGROUP_WORKER.format(cmd=toml_str(cmd)))
    first = start_controller(config)
    first.wait_active()
    (worker,) = first.worker_pids()
    cleanup.track(worker)
    dirs = _contained(first, worker, worker)
    try:
        first.proc.kill()
        first.proc.wait(DEADLINE)
        wait_gone([worker], what="the worker")
        second = start_controller(config)
        second.wait_active()
        left = [str(d) for d in dirs if d.exists()]
        assert left == [], f"cgroups of the dead controller left behind: {left}"
        assert second.terminate() == 0
    finally:
        _remove_cgroups(dirs)


def test_graceful_quit_leaves_no_child_of_a_worker_behind(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    """The worker (a shell) exits on SIGTERM; its child (same process group) does not get
    the signal. After `quit` returns, nothing of the worker's tree may be left: the stop
    ends with the process group."""
    pidfile = tmp_path / "child.pid"
    cmd = f"sh -c 'sleep 600 & echo $! > {pidfile}; wait'"
    config = write_config(tmp_path, f"[watchers.w]\ncmd = {toml_str(cmd)}\n")
    ctl = start_controller(config)
    ctl.wait_active()
    child = read_pid(pidfile)
    cleanup.track(child)
    assert ctl.cli("quit").returncode == 0
    assert ctl.proc.wait(DEADLINE) == 0
    wait_gone([child], timeout=10, what="the worker's child")


def test_sigkill_escalation_reaches_the_workers_process_group(
        tmp_path: Path, start_controller: StartController, cleanup: Cleanup) -> None:
    """A worker and its child both ignore SIGTERM. After `graceful_timeout` the SIGKILL
    goes to the whole process group (circus kills the whole tree): `stop` returns with
    both gone."""
    pidfile = tmp_path / "child.pid"
    code = (f"import signal, subprocess, time\n"
            f"signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"child = subprocess.Popen(['sleep', '600'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
            f"time.sleep(600)\n")
    config = write_config(tmp_path, f"[watchers.w]\ncmd = {toml_str(python_cmd(code))}\n"
                          "graceful_timeout = 1\n")
    ctl = start_controller(config)
    ctl.wait_active()
    (worker,) = ctl.worker_pids()
    child = read_pid(pidfile)
    cleanup.track(child)
    assert ctl.cli("stop", "w").returncode == 0
    assert not alive(worker)
    wait_gone([child], timeout=5, what="the worker's child")


# -- item 19: the log says things once ----------------------------------------------------------

def test_respawn_log_line_says_each_thing_once(
        tmp_path: Path, start_controller: StartController) -> None:
    """Once the crasher has been respawned a few times (past the free retries), no line of
    the controller's log repeats one of its own '; '-separated parts."""
    config = write_config(tmp_path, "[watchers.crasher]\ncmd = \"sh -c 'exit 3'\"\n")
    ctl = start_controller(config)
    ctl.wait_answering()

    def restarts() -> int:
        status = ctl.status()
        return 0 if status is None else status["watchers"][0]["processes"][0]["restarts"]

    wait_until_sync(lambda: restarts() >= 5, timeout=DEADLINE, what="5 respawns")
    repeated = [line for line in ctl.log_text().splitlines() if _repeats_itself(line)]
    assert repeated == [], repeated[0]


def _repeats_itself(line: str) -> bool:
    """A phrase of three words or more said twice in one log message."""
    words = line.partition(": ")[2].replace(";", " ").split()
    trigrams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) != len(set(trigrams))
