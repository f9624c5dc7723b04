"""Issue 13, engine rough edges: every config change reaches a watcher through
`Watcher.apply_config` (a hook added by `reloadconfig` runs, also for a stopped or only
rescaled watcher), and `restart` runs the same start sequence as `start`, hooks included.
Through the real CLI: the config file is edited, then `ringleader reloadconfig`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops_controller import Controller

from ringleader.testing import wait_until_sync

BASE = """
[watchers.idle]
cmd = "sleep 600"
autostart = false
[watchers.busy]
cmd = "sleep 600"
"""


def busy_runs(status: dict[str, Any]) -> bool:
    return any(w["name"] == "busy" and w["running"] == w["numprocesses"]
               for w in status["watchers"])


def hooked(marks: Path, watcher: str) -> str:
    return (f'[watchers.{watcher}.hooks]\n'
            f'before_start = "sh -c \'echo before_start >> {marks}\'"\n'
            f'after_start = "sh -c \'echo after_start >> {marks}\'"\n')


def marks_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_hook_added_by_reloadconfig_to_a_stopped_watcher_runs_at_its_start(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    ctl = controllers(BASE, ready=busy_runs)
    marks = tmp_path / "marks"
    ctl.config.write_text(BASE.replace("sleep 600\"\nautostart", "sleep 600\"\n"
                                       "numprocesses = 2\nautostart") + hooked(marks, "idle"))
    done = ctl("reloadconfig")
    assert done.returncode == 0, done.stderr
    started = ctl("start", "idle")
    assert started.returncode == 0, started.stderr
    wait_until_sync(lambda: marks_of(marks) == ["before_start", "after_start"], timeout=20,
                    what="both start hooks")
    assert [w["numprocesses"] for w in ctl.json("status")["watchers"]
            if w["name"] == "idle"] == [2]


def test_restart_runs_the_start_hooks(controllers: Callable[..., Controller],
                                      tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    ctl = controllers(BASE + hooked(marks, "busy"), ready=busy_runs)
    wait_until_sync(lambda: marks_of(marks) == ["before_start", "after_start"], timeout=20,
                    what="the start hooks")
    done = ctl("restart", "busy")
    assert done.returncode == 0, done.stderr
    wait_until_sync(lambda: marks_of(marks) == ["before_start", "after_start"] * 2,
                    timeout=20, what="the start hooks of the restart")


def test_a_refusing_before_start_keeps_a_restarted_watcher_stopped(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    ctl = controllers(BASE, ready=busy_runs)
    ctl.config.write_text(BASE + '[watchers.busy.hooks]\nbefore_start = "/bin/false"\n')
    assert ctl("reloadconfig").returncode == 0
    done = ctl("restart", "busy")
    assert done.returncode == 1 and "before_start" in done.stderr, done.stderr
    assert [w["state"] for w in ctl.json("status")["watchers"]
            if w["name"] == "busy"] == ["stopped"]


def busy_pids(ctl: Controller) -> list[int]:
    watcher = next(w for w in ctl.json("status")["watchers"] if w["name"] == "busy")
    return [p["pid"] for p in watcher["processes"] if p["state"] == "running"]


def test_a_rescale_by_reloadconfig_keeps_the_processes(
        controllers: Callable[..., Controller]) -> None:
    ctl = controllers(BASE, ready=busy_runs)
    before = busy_pids(ctl)
    ctl.config.write_text(BASE + "numprocesses = 3\n")
    done = ctl("reloadconfig")
    assert done.returncode == 0, done.stderr
    wait_until_sync(lambda: len(busy_pids(ctl)) == 3, timeout=20, what="3 busy processes")
    assert busy_pids(ctl)[0] == before[0]
