"""Per-watcher cgroups with real processes started through the trampoline (no engine):
containment of double-forked daemons, the kernel enforcing memory/pids/cpu limits,
kill_all against forking processes, and the unavailable path. v1 and v2 are both
exercised where this host offers them; otherwise the test is skipped with detect()."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ringleader.config.features import CgroupConfig
from ringleader.features.cgroups.discovery import detect, host, new_instance
from ringleader.features.cgroups.fs import needed_controllers
from ringleader.features.cgroups.group import Cgroup, CgroupUnavailable
from ringleader.testing import wait_until_sync

pytestmark = pytest.mark.timeout(60)
PARENT = "ringleader-test"


@pytest.fixture(scope="module", autouse=True)
def _remove_test_parent() -> Iterator[None]:
    yield
    h = host()
    for mount in {*h.v1.values(), *([h.v2] if h.v2 else [])}:
        try:
            os.rmdir(os.path.join(mount, PARENT))
        except OSError:
            pass

MakeCgroup = Callable[..., Cgroup]
Run = Callable[[Cgroup, str], subprocess.Popen[str]]


def _usable(version: int, cfg: CgroupConfig) -> str | None:
    if os.geteuid() != 0:
        return "cgroups need root here"
    h = host()
    why = h.v2_usable(needed_controllers(cfg)) if version == 2 \
        else h.v1_usable(needed_controllers(cfg))
    return None if why is None else f"{why} ({detect()})"


@pytest.fixture
def make_cgroup() -> Iterator[MakeCgroup]:
    """Create cgroups (skipping where the version cannot serve the config); every one is
    emptied and removed at teardown, whatever the test did."""
    made: list[Cgroup] = []

    def make(version: int, cfg: CgroupConfig | None = None, watcher: str = "w") -> Cgroup:
        cfg = CgroupConfig(parent=PARENT) if cfg is None else cfg
        why = _usable(version, cfg)
        if why is not None:
            pytest.skip(why)
        cg = Cgroup.create(watcher, cfg, instance=new_instance(), version=version)
        made.append(cg)
        return cg

    yield make
    for cg in made:
        asyncio.run(cg.kill_all(10))
        cg.remove()


@pytest.fixture
def run() -> Iterator[Run]:
    """Start `python -c code` inside a cgroup; reaped at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(cg: Cgroup, code: str) -> subprocess.Popen[str]:
        argv = cg.wrap_argv([sys.executable, "-c", textwrap.dedent(code)])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        assert p.stdout is not None
        p.stdout.close()


def _line(p: subprocess.Popen[str]) -> str:
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line, f"process exited early with {p.wait()}"
    return line.strip()


def _state(pid: int) -> str | None:
    """None once the pid is gone; 'Z' while a zombie nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _cfg(**kw: object) -> CgroupConfig:
    return CgroupConfig(parent=PARENT, **kw)  # type: ignore[arg-type]


DAEMON = """
    import os, sys, time
    print(open("/proc/self/cgroup").read().replace("\\n", "|"), flush=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            print(os.getpid(), flush=True)
            time.sleep(300)
        os._exit(0)
    os.wait()
    time.sleep(300)
"""


@pytest.mark.parametrize("version", [1, 2])
def test_double_forked_daemon_is_contained_and_killed(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    cg = make_cgroup(version)
    p = run(cg, DAEMON)
    own = _line(p).split("|")
    rel = cg.path[cg.path.index(f"/{PARENT}/"):]
    # The program saw itself inside from its first line, in every hierarchy joined.
    assert len([line for line in own if line.endswith(f":{rel}")]) == len(cg.procs_files()), own
    grandchild = int(_line(p))
    assert os.getsid(grandchild) not in (os.getsid(p.pid), os.getsid(0))  # own session
    # The middle process exits after the fork: it may still be on its way out.
    wait_until_sync(lambda: set(cg.pids()) == {p.pid, grandchild}, timeout=10,
                    what="the program and its double-forked grandchild only")

    asyncio.run(cg.kill_all(5))
    assert cg.pids() == []
    assert p.wait() == -signal.SIGKILL
    assert _state(grandchild) in (None, "Z")  # dead; reaped by init or a subreaper


@pytest.mark.parametrize("version", [1, 2])
def test_kill_all_catches_a_process_that_keeps_forking(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    # Each generation forks and exits: a pid list read then killed always misses one.
    cg = make_cgroup(version)
    p = run(cg, """
        import os
        print("go", flush=True)
        os.close(1)
        while True:
            if os.fork():
                os._exit(0)
    """)
    assert _line(p) == "go"
    assert p.wait() == 0
    asyncio.run(cg.kill_all(5))
    assert cg.pids() == []


def test_kill_all_by_freezing_where_there_is_no_cgroup_kill(
        make_cgroup: MakeCgroup, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = make_cgroup(2)
    monkeypatch.setattr(Cgroup, "_has_kill_file", lambda self: False)
    p = run(cg, DAEMON)
    _line(p)
    grandchild = int(_line(p))
    asyncio.run(cg.kill_all(5))
    assert cg.pids() == []
    assert p.wait() == -signal.SIGKILL
    assert _state(grandchild) in (None, "Z")
    with open(os.path.join(cg.path, "cgroup.freeze")) as f:
        assert f.read().strip() == "0"  # thawed again


@pytest.mark.parametrize("version", [1, 2])
def test_memory_hog_is_oom_killed_at_its_limit(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    limit = 50 << 20
    cg = make_cgroup(version, _cfg(memory_limit=limit))
    p = run(cg, """
        print("go", flush=True)
        hog = b"x" * (200 << 20)
        print("survived", flush=True)
    """)
    assert _line(p) == "go"
    assert p.wait() == -signal.SIGKILL
    assert p.stdout is not None
    assert "survived" not in p.stdout.read()
    stats = cg.stats()
    assert stats["oom_kills"] is not None and stats["oom_kills"] >= 1, stats
    peak = stats["memory_peak"]
    assert peak is not None and peak <= limit, stats


@pytest.mark.parametrize("version", [1, 2])
def test_fork_bomb_stops_at_pids_limit(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    cg = make_cgroup(version, _cfg(pids_limit=20))
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.append(len(cg.pids()))
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        p = run(cg, """
            import errno, os, time
            n = 0
            while n < 1000:  # bounded, should the limit not hold
                try:
                    pid = os.fork()
                except OSError as exc:
                    print(errno.errorcode[exc.errno], n, flush=True)
                    break
                if pid == 0:
                    time.sleep(300)
                    os._exit(0)
                n += 1
            time.sleep(300)
        """)
        err, forked = _line(p).split()
        # The controller side stays healthy: it still starts processes.
        assert subprocess.run(["/bin/true"], check=False).returncode == 0
        assert cg.stats()["pids_current"] == 20
    finally:
        done.set()
        sampler.join()
    assert err == "EAGAIN"
    assert int(forked) == 19  # the bomb itself + 19 children
    assert max(seen) <= 20
    asyncio.run(cg.kill_all(5))
    assert p.wait() == -signal.SIGKILL


@pytest.mark.parametrize("version", [1, 2])
def test_cpu_quota_throttles_a_busy_loop(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    cg = make_cgroup(version, _cfg(cpu_quota=0.2))
    p = run(cg, """
        print("go", flush=True)
        while True:
            pass
    """)
    assert _line(p) == "go"
    before, t0 = cg.stats()["cpu_seconds"], time.monotonic()
    time.sleep(1.0)  # measuring a rate over a window, not waiting for an event
    after, t1 = cg.stats()["cpu_seconds"], time.monotonic()
    assert isinstance(before, float) and isinstance(after, float)
    share = (after - before) / (t1 - t0)
    assert 0.05 < share < 0.4, share


def test_live_apply_changes_and_resets_limits_v1(make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup(1, _cfg(cpu_weight=100, pids_limit=5))
    d = {name: os.path.dirname(f) for f in cg.procs_files()
         for name in ("cpu", "pids", "memory") if f"/{name}/" in f}

    def read(ctl: str, name: str) -> str:
        with open(os.path.join(d[ctl], name)) as f:
            return f.read().strip()

    assert read("cpu", "cpu.shares") == "1024"
    assert read("pids", "pids.max") == "5"
    cg.apply(_cfg(cpu_weight=200, memory_limit=64 << 20, cpu_quota=1.5))
    assert read("cpu", "cpu.shares") == "2048"
    assert read("cpu", "cpu.cfs_quota_us") == "150000"
    assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read("pids", "pids.max") == "max"
    cg.apply(_cfg())
    assert read("cpu", "cpu.cfs_quota_us") == "-1"
    assert int(read("memory", "memory.limit_in_bytes")) > 1 << 60


@pytest.mark.parametrize("version", [1, 2])
def test_a_process_that_cannot_join_never_runs(
        version: int, make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup(version)
    argv = cg.wrap_argv(["/bin/echo", "ran uncontained"])
    cg.remove()
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert out.returncode == 126
    assert out.stdout == ""
    assert out.stderr.startswith("ringleader-cgroup:"), out.stderr


@pytest.mark.parametrize("version", [1, 2])
def test_identity_is_dropped_after_joining(version: int, make_cgroup: MakeCgroup) -> None:
    # Joining needs root on v2, so the trampoline joins first, then takes the identity.
    cg = make_cgroup(version)
    code = "import os; print(os.getuid(), os.getgid(), os.getgroups(), open('/proc/self/cgroup')" \
        ".read().count(':/ringleader-test/'))"
    argv = cg.wrap_argv([sys.executable, "-c", code], user=65534, group=65534, extra_groups=[])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate()
    assert (p.returncode, out) == (0, f"65534 65534 [] {len(cg.procs_files())}\n")


@pytest.mark.parametrize("version", [1, 2])
def test_two_controllers_never_share_a_cgroup(
        version: int, make_cgroup: MakeCgroup, run: Run) -> None:
    a, b = make_cgroup(version, watcher="web"), make_cgroup(version, watcher="web")
    assert a.path != b.path
    pa = run(a, "print('go', flush=True); import time; time.sleep(300)")
    pb = run(b, "print('go', flush=True); import time; time.sleep(300)")
    _line(pa), _line(pb)
    asyncio.run(a.kill_all(5))
    assert pa.wait() == -signal.SIGKILL
    assert pb.poll() is None and b.pids() == [pb.pid]


@pytest.mark.parametrize("version", [1, 2])
def test_unavailable_when_the_parent_cannot_be_created(version: int) -> None:
    cfg = _cfg()
    if _usable(version, cfg) is not None:
        pytest.skip(_usable(version, cfg) or "")
    # A parent under a cgroup's own file: mkdir fails with ENOTDIR.
    bad = CgroupConfig(parent=f"{PARENT}/cgroup.procs")
    with pytest.raises(CgroupUnavailable) as info:
        Cgroup.create("w", bad, instance=new_instance(), version=version)
    msg = str(info.value)
    assert "\n" not in msg and "cannot create cgroup" in msg and "cgroup.procs" in msg, msg


def test_cgroup_v2_without_a_needed_controller_is_refused() -> None:
    h = host()
    if h.v2 is None or "pids" in h.v2_controllers:
        pytest.skip(f"needs a v2 without pids ({detect()})")
    with pytest.raises(CgroupUnavailable, match="cgroup v2 lacks controller"):
        Cgroup.create("w", _cfg(pids_limit=3), instance=new_instance(), version=2)
