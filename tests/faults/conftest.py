"""Helpers of the fault suite: a real controller (`ringleader run` as a subprocess, from
the regression suite's helpers) whose workers carry a tag in their environment, so that
every process of every watcher can be found from outside - also once the controller that
started them is dead and they were re-parented."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from regressions.conftest import (
    DEADLINE,
    RINGLEADER,
    Cleanup,
    Controller,
    StartController,
    toml_str,
)
from regressions.conftest import cleanup as cleanup  # the fixture, for this folder
from ringleader.testing import wait_until_sync

# A child subreaper that runs the controller and reaps everything re-parented to it, as
# a real init does (this container's PID 1 never reaps: zombies would keep the killed
# workers' process groups alive). It exits with the controller's status once no
# process of the tree is left: its exit is the proof that nothing escaped.
SUBREAPER = r"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("cannot become a child subreaper")
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)  # the controller's output (and its console sinks') to the log
    os.execv(sys.argv[1], sys.argv[1:])
print(pid, flush=True)
code = 0
while True:
    try:
        done, status = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if done == pid:
        code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


class Tree:
    """A Popen look-alike for the controller under SUBREAPER: signals go to the
    controller; poll() and wait() tell when the whole tree (controller, guardian,
    workers, their children) is gone."""

    def __init__(self, wrapper: subprocess.Popen[bytes], controller: int) -> None:
        self.wrapper = wrapper
        self.pid = controller

    @property
    def returncode(self) -> int | None:
        return self.wrapper.returncode

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def poll(self) -> int | None:
        return self.wrapper.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.wrapper.wait(timeout)


@pytest.fixture
def start_controller(cleanup: Cleanup) -> StartController:
    """start_controller(config, ...): `ringleader run CONFIG` under SUBREAPER."""
    counter = itertools.count(1)

    def start(config: Path, *, args: tuple[str, ...] = (),
              preexec_fn: Callable[[], None] | None = None) -> Controller:
        log = config.parent / f"controller-{next(counter)}.log"
        with open(log, "ab") as out:
            wrapper = cleanup.popen(
                [sys.executable, "-c", SUBREAPER, *RINGLEADER, "run", str(config), *args],
                stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL,
                preexec_fn=preexec_fn)
        assert wrapper.stdout is not None
        pid = int(wrapper.stdout.readline())
        wrapper.stdout.close()
        proc: Any = Tree(wrapper, pid)
        return Controller(proc, f"unix:{config.parent / 'ringleader.sock'}", log)

    return start

TAG_VAR = "RL_FAULT_TAG"
# One parent per test run: runs side by side (several checkouts on one host) do not see
# each other's cgroups as leftovers. Removed (when empty) at the end of the run.
CGROUP_PARENT = f"ringleader-test-faults-{os.getpid()}"
_tags = itertools.count(1)


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> Iterator[str]:
    """A tag for this test's workers; whatever carries it is killed at teardown."""
    reaper: Cleanup = request.getfixturevalue("cleanup")
    value = f"rl-fault-{os.getpid()}-{next(_tags)}"
    yield value
    for proc in tagged(value):
        reaper.track(proc.pid)


def tagged(tag: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose environment carries `tag`."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(TAG_VAR) == tag:
                found.append(proc)
    return found


def wait_none_tagged(tag: str, timeout: float = DEADLINE, what: str = "") -> None:
    left: list[psutil.Process] = []

    def none() -> bool:
        left[:] = tagged(tag)
        return not left

    try:
        wait_until_sync(none, timeout=timeout, interval=0.05, what=what or "no worker left")
    except TimeoutError:
        raise AssertionError(f"{what or 'workers'} left behind: "
                             f"{[(p.pid, _cmdline(p)) for p in left]}") from None


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return "?"


def cgroups_usable() -> bool:
    """Whether this host lets the controller make cgroups (root, a usable hierarchy)."""
    if os.geteuid() != 0:
        return False
    from ringleader.config.features import CgroupConfig
    from ringleader.features.cgroups.discovery import host

    return host().choose(CgroupConfig(parent=CGROUP_PARENT))[0] is not None


def cgroup_leftovers() -> list[str]:
    """Instance folders under the fault suite's cgroup parent, in every hierarchy."""
    from ringleader.features.cgroups.discovery import host

    h = host()
    found = []
    for mount in {*h.v1.values(), *([h.v2] if h.v2 else [])}:
        base = os.path.join(mount, CGROUP_PARENT)
        with contextlib.suppress(OSError):
            found += [os.path.join(base, name) for name in os.listdir(base)
                      if os.path.isdir(os.path.join(base, name))]
    return sorted(found)


@pytest.fixture(scope="session", autouse=True)
def _cgroup_parent_removed() -> Iterator[None]:
    yield
    if os.geteuid() != 0:
        return
    from ringleader.features.cgroups.discovery import host

    h = host()
    for mount in {*h.v1.values(), *([h.v2] if h.v2 else [])}:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(mount, CGROUP_PARENT))


def watcher_toml(name: str, cmd: str, tag: str, **options: Any) -> str:
    """A watcher section whose processes carry `tag`; output discarded unless given."""
    lines = [f"[watchers.{name}]", f"cmd = {toml_str(cmd)}"]
    tables = {k: v for k, v in options.items() if isinstance(v, dict)}
    for key, value in options.items():
        if key not in tables:
            lines.append(f"{key} = {_toml(value)}")
    tables.setdefault("stdout_stream", {"kind": "null"})
    tables.setdefault("stderr_stream", {"kind": "null"})
    tables["env"] = {**tables.get("env", {}), TAG_VAR: tag}
    for table, values in tables.items():
        lines.append(f"[watchers.{name}.{table}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return toml_str(str(value))


def status_of(ctl: Controller) -> dict[str, dict[str, Any]]:
    return ctl.watchers()


def wait_settled(ctl: Controller, timeout: float = DEADLINE) -> dict[str, dict[str, Any]]:
    """Until the controller has started its watchers and every one meant to run runs all
    its processes; the watchers then."""
    found: dict[str, dict[str, Any]] = {}

    def settled() -> bool:
        assert ctl.proc.poll() is None, f"the controller exited:\n{ctl.log_text()[-3000:]}"
        status = ctl.status()
        if status is None or status["controller"].get("starting"):
            return False
        watchers = {w["name"]: w for w in status["watchers"]}
        if all(w["desired"] != "running" or (w["state"] == "active"
                                              and w["running"] == w["numprocesses"])
               for w in watchers.values()):
            found.update(watchers)
            return True
        return False

    wait_until_sync(settled, timeout=timeout, interval=0.05, what="the watchers running")
    return found


def assert_only_known_processes(tag: str, watchers: dict[str, dict[str, Any]]) -> None:
    """Every tagged process is a worker the controller lists, or a descendant of one."""
    known = {p["pid"] for w in watchers.values() for p in w["processes"] if p["pid"]}
    strays = []
    for proc in tagged(tag):
        with contextlib.suppress(psutil.Error):
            lineage = {proc.pid, *(p.pid for p in proc.parents())}
            if not lineage & known:
                strays.append((proc.pid, _cmdline(proc)))
    assert not strays, f"processes no watcher knows: {strays}"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
