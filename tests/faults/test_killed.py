"""Fault: the controller SIGKILLed at a random moment of a start, a reload, a scale-up or
a reloadconfig (fixed seeds, so a failure replays), and its guardian killed.

What must hold after: no process of any watcher is left (the guardian stops them, cgroups
included), and a new controller on the same config comes up consistent: every watcher it
means to run runs all its processes, and every tagged process on the host is one of
them (or a child of one).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ringleader.testing import wait_until_sync

from .conftest import (
    CGROUP_PARENT,
    DEADLINE,
    Controller,
    StartController,
    assert_only_known_processes,
    cgroup_leftovers,
    cgroups_usable,
    tagged,
    wait_none_tagged,
    wait_settled,
    watcher_toml,
    write,
)

SEEDS = (1, 2, 3)
# How long after the operation begins the kill may land (seconds): its whole length.
WINDOWS = {"start": (0.2, 1.2), "reload": (0.0, 1.2), "scale": (0.0, 0.3),
           "reloadconfig": (0.0, 1.2)}
CGROUPS = cgroups_usable()


def config_text(tag: str, *, changed: bool = False) -> str:
    """Three or four watchers: `a` (a shell and its child: a process group of two),
    `b` (plain), with `changed` a new `b` command and an added `c`; where cgroups work,
    `d` in a cgroup with a setsid grandchild (outside every process group)."""
    text = watcher_toml("a", "sh -c 'sleep 600 & wait'", tag, numprocesses=3,
                        backoff={"min_uptime": 0.2})
    text += watcher_toml("b", "sleep 601" if changed else "sleep 600", tag,
                         numprocesses=2, warmup_delay=0.05)
    if changed:
        text += watcher_toml("c", "sleep 602", tag)
    if CGROUPS:
        text += watcher_toml("d", "sh -c 'setsid sleep 603 & wait'", tag,
                             cgroup={"parent": CGROUP_PARENT})
    return text


def _operate(op: str, ctl: Controller, config: Path, tag: str) -> subprocess.Popen[bytes]:
    """Begin `op` against a running controller (a console command, not awaited)."""
    if op == "reloadconfig":
        write(config, config_text(tag, changed=True))
    args = {"reload": ["reload", "a"], "scale": ["incr", "a", "5"],
            "reloadconfig": ["reloadconfig"]}[op]
    return subprocess.Popen([sys.executable, "-m", "ringleader", *args, "-e", ctl.endpoint],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _expected(op: str) -> dict[str, set[int]]:
    """The numbers of processes a consistent restart may show, per watcher."""
    expected = {"a": {3, 8} if op == "scale" else {3}, "b": {2}}
    if op == "reloadconfig":
        expected["c"] = {1}
    if CGROUPS:
        expected["d"] = {1}
    return expected


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", list(WINDOWS))
def test_controller_killed_at_a_random_moment(op: str, seed: int, tmp_path: Path,
                                              tag: str,
                                              start_controller: StartController) -> None:
    rng = random.Random(f"{op}/{seed}")
    config = write(tmp_path / "ringleader.toml", config_text(tag))
    ctl = start_controller(config)
    console = None
    if op != "start":
        wait_settled(ctl)
        console = _operate(op, ctl, config, tag)
    time.sleep(rng.uniform(*WINDOWS[op]))  # the fault's moment, not a synchronisation
    ctl.proc.kill()
    if console is not None:
        console.wait(DEADLINE)
    _wait_tree_gone(ctl, tag, f"the tree of the controller killed during {op}")
    # (Its cgroup folders go once the guardian's grace is over, or with the next start.)
    again = start_controller(config)
    watchers = wait_settled(again)
    numbers = {name: w["numprocesses"] for name, w in watchers.items()}
    expected = _expected(op)
    assert set(numbers) == set(expected), numbers
    assert all(numbers[n] in expected[n] for n in numbers), (numbers, expected)
    assert_only_known_processes(tag, watchers)
    assert again.terminate() == 0
    wait_none_tagged(tag, what="workers after a clean stop")
    assert cgroup_leftovers() == []


def _wait_tree_gone(ctl: Controller, tag: str, what: str) -> None:
    """The subreaper the controller ran under exits once no process of its tree is left
    (the guardian's work done): then nothing tagged may be left anywhere either."""
    try:
        ctl.proc.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{what}: still there: {[p.pid for p in tagged(tag)]}") \
            from None
    wait_none_tagged(tag, timeout=1, what=what)


def _guardian_of(ctl: Controller) -> int | None:
    try:
        for child in psutil.Process(ctl.proc.pid).children():
            if "ringleader-guardian" in child.cmdline() and \
                    child.status() != psutil.STATUS_ZOMBIE:
                return child.pid
    except psutil.Error:
        pass
    return None


def test_guardian_killed_again_and_again_then_the_controller(
        tmp_path: Path, tag: str, start_controller: StartController) -> None:
    """Each guardian killed is replaced (the second at once, the third a second later:
    never a hot loop) and briefed: the controller's SIGKILL still stops every worker."""
    ctl = start_controller(write(tmp_path / "ringleader.toml", config_text(tag)))
    wait_settled(ctl)
    seen = []
    for _ in range(3):
        wait_until_sync(lambda: _guardian_of(ctl) not in (None, *seen), timeout=DEADLINE,
                        what="a (new) guardian")
        guardian = _guardian_of(ctl)
        assert guardian is not None
        seen.append(guardian)
        os.kill(guardian, signal.SIGKILL)
    wait_until_sync(lambda: _guardian_of(ctl) not in (None, *seen), timeout=DEADLINE,
                    what="the fourth guardian")
    assert ctl.log_text().count("starting a new one") == 3
    ctl.proc.kill()
    _wait_tree_gone(ctl, tag, "the tree of the killed controller")
    # The guardian removes the cgroup folders at the end of its grace period (5 s) at the
    # latest: sooner where killed workers are reaped at once (here they may stay zombies
    # of a PID 1 that never reaps, and a zombie keeps its process group alive).
    wait_until_sync(lambda: cgroup_leftovers() == [], timeout=DEADLINE,
                    what="the guardian to remove the cgroup folders")


@pytest.mark.skipif(not CGROUPS, reason="needs root and a usable cgroup hierarchy")
def test_controller_and_guardian_killed_together_the_next_start_sweeps_the_cgroup(
        tmp_path: Path, tag: str, start_controller: StartController) -> None:
    """Nothing is left to stop the workers: what ran in a cgroup is swept by the next
    controller with the same cgroup parent (the others are the test's to clean up)."""
    config = write(tmp_path / "ringleader.toml", config_text(tag))
    ctl = start_controller(config)
    watchers = wait_settled(ctl)
    (contained,) = [p["pid"] for p in watchers["d"]["processes"]]
    guardian = _guardian_of(ctl)
    assert guardian is not None
    os.kill(guardian, signal.SIGSTOP)  # so that it cannot act on the EOF
    try:
        ctl.proc.kill()
        wait_until_sync(lambda: not psutil.pid_exists(ctl.proc.pid), timeout=DEADLINE,
                        what="the controller gone")
    finally:
        os.kill(guardian, signal.SIGKILL)
    left = [p.pid for p in tagged(tag)]
    assert contained in left and cgroup_leftovers(), "nothing was left to sweep"
    for proc in tagged(tag):  # all but the cgroup's: the sweep must get those
        if proc.pid not in _cgroup_pids():
            proc.kill()
    again = start_controller(config)
    wait_settled(again)
    assert "of a dead controller swept" in again.log_text()
    # The first tree is gone now: what was in the cgroup was its last.
    _wait_tree_gone(ctl, tag="none", what="the cgroup's processes")
    assert not any(pid in left for pid in (p.pid for p in tagged(tag)))
    assert again.terminate() == 0
    wait_none_tagged(tag)
    assert cgroup_leftovers() == []


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for instance in cgroup_leftovers():
        for root, _dirs, files in os.walk(instance):
            if "cgroup.procs" in files:
                with open(os.path.join(root, "cgroup.procs")) as f:
                    pids |= {int(p) for p in f.read().split()}
    return pids
