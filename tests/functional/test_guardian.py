"""The guardian with real processes (no engine): what it kills when its pipe closes with
groups and cgroups still listed, how it is replaced and briefed when killed, and the
start-up sweep of cgroups that dead controllers left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from ringleader.config.features import CgroupConfig
from ringleader.features.cgroups.discovery import host, new_instance
from ringleader.features.cgroups.fs import needed_controllers
from ringleader.features.cgroups.group import Cgroup
from ringleader.features.cgroups.sweep import sweep_stale
from ringleader.proc.guardian import GUARD_ENV, Guardian
from ringleader.proc.reaper import Reaper
from ringleader.testing import pid_exists, run_async, wait_until

pytestmark = pytest.mark.timeout(60)
PARENT = "ringleader-test-guardian"


def _sleeper() -> subprocess.Popen[bytes]:
    """A process group of two: a shell (the leader) and its sleep."""
    return subprocess.Popen(["/bin/sh", "-c", "sleep 300 & wait"], start_new_session=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_closing_the_pipe_with_groups_listed_stops_them() -> None:
    """What a killed controller's guardian does (its pipe reaches EOF): SIGTERM to every
    group still listed; a removed group is left alone."""
    kept, removed = _sleeper(), _sleeper()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper, grace_seconds=2)
        guardian.add(kept.pid)
        guardian.add(removed.pid)
        guardian.remove(removed.pid)
        await guardian.close()
        reaper.close()

    try:
        run_async(scenario())
        assert kept.wait(5) == -signal.SIGTERM
        assert removed.poll() is None
    finally:
        for p in (kept, removed):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_a_killed_guardian_is_replaced_and_briefed(caplog: pytest.LogCaptureFixture) -> None:
    worker = _sleeper()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper, grace_seconds=2)
        guardian.add(worker.pid)
        first = guardian.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: guardian.pid not in (None, first), timeout=10,
                         what="a new guardian")
        assert not pid_exists(first) and first not in reaper.pids  # reaped, not a zombie
        await guardian.close()  # EOF: the new one stops the group it was told about
        reaper.close()

    try:
        run_async(scenario())
        assert worker.wait(5) == -signal.SIGTERM
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert any("guardian pid" in r.getMessage() and "SIGKILL" in r.getMessage()
               for r in caplog.records)


def test_a_group_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
         "time.sleep(300)"], start_new_session=True, stdout=subprocess.PIPE)
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper, grace_seconds=0.5)
        guardian.add(stubborn.pid)
        await guardian.close()
        reaper.close()

    try:
        run_async(scenario())
        assert stubborn.wait(5) == -signal.SIGKILL
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()
        stubborn.stdout.close()


# -- cgroups ---------------------------------------------------------------------------------

DAEMON = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            print(os.getpid(), flush=True)
            time.sleep(300)
        os._exit(0)
    os.wait()
    time.sleep(300)
"""


@pytest.fixture(scope="module", autouse=True)
def _remove_test_parent() -> Iterator[None]:
    yield
    h = host()
    for mount in {*h.v1.values(), *([h.v2] if h.v2 else [])}:
        try:
            os.rmdir(os.path.join(mount, PARENT))
        except OSError:
            pass


def _cgroup(version: int, instance: str) -> Cgroup:
    cfg = CgroupConfig(parent=PARENT)
    if os.geteuid() != 0:
        pytest.skip("cgroups need root here")
    h = host()
    why = h.v2_usable(needed_controllers(cfg)) if version == 2 else \
        h.v1_usable(needed_controllers(cfg))
    if why is not None:
        pytest.skip(why)
    return Cgroup.create("w", cfg, instance=instance, version=version)


def _daemonize_in(cg: Cgroup) -> tuple[subprocess.Popen[bytes], int]:
    """A process in `cg` whose setsid'd grandchild escapes its process group and session;
    (the process, the grandchild's pid)."""
    p = subprocess.Popen(cg.wrap_argv([sys.executable, "-c", textwrap.dedent(DAEMON)]),
                         stdout=subprocess.PIPE, start_new_session=True)
    assert p.stdout is not None
    grandchild = int(p.stdout.readline())
    p.stdout.close()
    return p, grandchild


def _cleanup(cg: Cgroup, p: subprocess.Popen[bytes]) -> None:
    asyncio.run(cg.kill_all(10))
    cg.remove()
    if p.poll() is None:
        p.kill()
    p.wait()


@pytest.mark.parametrize("version", [1, 2])
def test_guardian_kills_and_removes_the_cgroups_listed(version: int) -> None:
    cg = _cgroup(version, new_instance())
    p, grandchild = _daemonize_in(cg)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper, grace_seconds=1)
        guardian.add(p.pid)
        guardian.add_cgroup(cg.folders())
        await guardian.close()
        reaper.close()

    try:
        run_async(scenario())
        assert p.wait(5) == -signal.SIGTERM
        assert not pid_exists(grandchild)
        assert not any(os.path.exists(d) for d in cg.folders())
        assert not any(os.path.exists(os.path.dirname(d)) for d in cg.folders())
    finally:
        _cleanup(cg, p)


def _dead_pid() -> int:
    done = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("version", [1, 2])
def test_sweep_empties_and_removes_cgroups_of_dead_controllers_only(version: int) -> None:
    stale = _cgroup(version, f"{_dead_pid()}-1")
    live = _cgroup(version, new_instance())  # ours: this process is alive
    p_stale, grandchild = _daemonize_in(stale)
    p_live, _ = _daemonize_in(live)
    try:
        notes = run_async(sweep_stale(PARENT))
        assert p_stale.wait(5) == -signal.SIGKILL
        assert not pid_exists(grandchild)
        assert not any(os.path.exists(d) for d in stale.folders())
        assert len(notes) == 1 and "swept (2 process(es) killed)" in notes[0], notes
        assert p_live.poll() is None
        assert all(os.path.isdir(d) for d in live.folders())
    finally:
        _cleanup(stale, p_stale)
        _cleanup(live, p_live)


def test_a_dying_controllers_unlisted_workers_are_found_by_their_token() -> None:
    """The controller died between a worker's spawn and telling the guardian: the worker
    carries the controller's token in its environment, which is how the guardian finds
    it. A clean close never searches."""

    async def scenario(die: bool) -> subprocess.Popen[bytes]:
        loop = asyncio.get_running_loop()
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper, grace_seconds=1)
        env = {**os.environ, GUARD_ENV: guardian.token}
        unlisted = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
        await guardian.close(clean=not die)
        reaper.close()
        return unlisted

    survivor = run_async(scenario(die=False))
    found = run_async(scenario(die=True))
    try:
        assert found.wait(5) == -signal.SIGTERM
        assert survivor.poll() is None
    finally:
        for p in (survivor, found):
            if p.poll() is None:
                p.kill()
            p.wait()
