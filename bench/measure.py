"""Start a controller, observe it from outside, stop it and everything it started.

Times come from ``time.perf_counter()`` in the bench; process facts come from /proc (see
``procscan``) and psutil. Nothing here relies on a controller's own reporting.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import producer
import psutil
from peers import PRODUCER, Scenario, Tool, child_env, sleep_argv
from procscan import TreeScanner, read_stat

BRING_UP_POLL_S = 0.001
RESPAWN_POLL_S = 0.0002
SIZE_POLL_S = 0.001
PRODUCER_POLL_S = 0.0002
STOP_TIMEOUT_S = 90.0
SIGTERM_REPEAT_S = 5.0
KILL_TIMEOUT_S = 30.0
RESPAWN_JITTER_S = 0.2
SETTLE_S = 1.0


class BenchError(Exception):
    """A measurement could not be taken; the message says why, for the report."""


@dataclass
class Running:
    """A controller started by the bench."""

    tool: Tool
    proc: subprocess.Popen[bytes]
    launched_at: float
    workdir: Path
    scanner: TreeScanner
    launched_wall: float = 0.0  # time.time() just before the Popen (for workers' own stamps)
    stop_s: float | None = None
    stop_notes: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.launched_at

    def check_alive(self) -> None:
        """Raise with the tail of the controller's log if it has exited."""
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.tool.name} exited with status {self.proc.returncode}: {self.log_tail()}"
            )

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = (self.workdir / "controller.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(empty log)"


@contextlib.contextmanager
def launched(tool: Tool, scenario: Scenario, workroot: Path) -> Iterator[Running]:
    """Start ``tool`` on ``scenario``; on exit stop it and kill whatever it left behind."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=workroot))
    argv = tool.command(workdir, scenario)
    with open(workdir / "controller.log", "wb") as log:
        launched_wall = time.time()
        launched_at = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(tool, proc, launched_at, workdir, TreeScanner(proc.pid), launched_wall)
    try:
        yield running
    finally:
        stop(running)


def stop(running: Running) -> None:
    """SIGTERM the controller, wait for it, then kill and reap anything of its tree left.

    If ``SIGTERM_REPEAT_S`` pass with the controller running and no worker gone, SIGTERM is
    sent again (an operator would do the same); every repeat is noted.
    """
    running.scanner.scan()
    tree = set(running.scanner.members) - {running.proc.pid}
    try:
        _graceful_stop(running)
        running.scanner.scan()
        tree |= set(running.scanner.members) - {running.proc.pid}
    finally:
        running.stop_notes += _kill_tree(running.proc, tree)


def _graceful_stop(running: Running) -> None:
    started = time.perf_counter()
    sent, workers = 0, None
    while running.proc.poll() is None and time.perf_counter() - started < STOP_TIMEOUT_S:
        running.scanner.scan()
        now = len(running.scanner.workers())
        if workers is None or now >= workers:  # first time, or no progress: SIGTERM ignored
            running.proc.send_signal(signal.SIGTERM)
            sent += 1
        workers = now
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.proc.wait(SIGTERM_REPEAT_S)
    if running.proc.poll() is None:
        running.stop_notes.append(f"still running {STOP_TIMEOUT_S:.0f} s after SIGTERM")
    elif sent > 0:
        running.stop_s = time.perf_counter() - started
    if sent > 1:
        running.stop_notes.append(
            f"SIGTERM sent {sent} times: it was ignored while no worker stopped for "
            f"{SIGTERM_REPEAT_S:g} s"
        )


def _kill_tree(proc: subprocess.Popen[bytes], tree: set[int]) -> list[str]:
    """SIGKILL the controller and its former tree; return what was still alive."""
    survivors = [pid for pid in tree if _alive(pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in survivors) and time.monotonic() < deadline:
        reap_orphans()
        time.sleep(0.01)
    reap_orphans()
    if not survivors:
        return []
    return [f"{len(survivors)} process(es) of its tree still alive after it exited"]


def _alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def reap_orphans() -> None:
    """Reap zombies reparented to the bench (it is a child subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_for_workers(running: Running, count: int, timeout: float, poll: float) -> set[int]:
    """Poll until ``count`` live workers exist in the tree; return them."""
    deadline = time.perf_counter() + timeout
    while True:
        running.scanner.scan()
        workers = running.scanner.workers()
        if len(workers) >= count:
            return workers
        running.check_alive()
        if time.perf_counter() > deadline:
            raise BenchError(f"only {len(workers)} of {count} workers after {timeout:.0f} s")
        time.sleep(poll)


def bring_up(running: Running, count: int, timeout: float) -> float:
    """Seconds from launching the controller until ``count`` workers exist."""
    wait_for_workers(running, count, timeout, BRING_UP_POLL_S)
    return running.elapsed()


STAMP_POLL_S = 0.02


@dataclass(frozen=True)
class SelfTimed:
    first_s: float  # launch -> the first worker's own start stamp
    last_s: float  # launch -> the last one's: every worker has started


def self_timed_bring_up(running: Running, count: int, stamps: Path, timeout: float) -> SelfTimed:
    """Seconds from the launch to the first and to the last of ``count`` workers' own start.

    The workers (``stamp.c``) write their start time themselves, so the bench need not poll
    /proc while they start: it only reads the stamp file every 20 ms, taking almost no CPU
    from the controller under test (a /proc scan every 1 ms would use a good part of a CPU).
    """
    deadline = time.perf_counter() + timeout
    while True:
        stamped = read_stamps(stamps)
        if len(stamped) >= count:
            break
        running.check_alive()
        if time.perf_counter() > deadline:
            raise BenchError(f"only {len(stamped)} of {count} workers started in {timeout:.0f} s")
        time.sleep(STAMP_POLL_S)
    started = sorted(stamped.values())
    return SelfTimed(started[0] - running.launched_wall, started[count - 1] - running.launched_wall)


def read_stamps(path: Path) -> dict[int, float]:
    """pid -> wall-clock start of every worker that stamped itself (stamp.c)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out: dict[int, float] = {}
    for line in text.splitlines():
        at, _, pid = line.partition(" ")
        if pid:
            out[int(pid)] = float(at)
    return out


STAMP_RESPAWN_POLL_S = 0.001


def respawn_self_timed(running: Running, count: int, kills: int, stamps: Path,
                       seed: int = 1) -> list[float]:
    """Seconds from SIGKILL of a worker until its replacement's own start stamp, ``kills``
    times: the oldest worker each time, after a random 0-200 ms pause (as
    ``respawn_latencies``). The bench only reads the stamp file (every 1 ms) while it waits:
    no /proc scan, and the time is the worker's, not the moment the bench noticed it."""
    rng = random.Random(seed)
    seen = read_stamps(stamps)
    if len(seen) < count:
        raise BenchError(f"only {len(seen)} of {count} workers stamped")
    oldest_first = sorted(seen, key=seen.__getitem__)
    samples: list[float] = []
    for _ in range(kills):
        time.sleep(rng.uniform(0, RESPAWN_JITTER_S))
        victim = oldest_first.pop(0)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        deadline = time.perf_counter() + KILL_TIMEOUT_S
        while True:
            now = read_stamps(stamps)
            new = set(now) - set(seen)
            if new:
                break
            if time.perf_counter() > deadline:
                running.check_alive()
                raise BenchError(f"no replacement worker {KILL_TIMEOUT_S:.0f} s after a SIGKILL")
            time.sleep(STAMP_RESPAWN_POLL_S)
        pid = new.pop()
        samples.append(now[pid] - killed_at)
        seen = now
        oldest_first.append(pid)
    return samples


@dataclass(frozen=True)
class Idle:
    cpu_s: float
    rss_total_mb: float
    rss_controller_mb: float
    helpers: str
    workers_after: int


def idle(running: Running, window: float) -> Idle:
    """CPU seconds and RSS of the controller plus its non-worker helpers over ``window``."""
    time.sleep(SETTLE_S)
    running.scanner.scan()
    before = _cpu_by_pid(running.scanner.helpers())
    time.sleep(window)
    running.check_alive()
    running.scanner.scan()
    helpers = running.scanner.helpers()
    after = _cpu_by_pid(helpers)
    cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    rss = _rss_by_pid(helpers)
    names = sorted(running.scanner.members[pid].comm for pid in helpers)
    return Idle(
        cpu_s=cpu,
        rss_total_mb=sum(rss.values()) / 1e6,
        rss_controller_mb=rss.get(running.proc.pid, 0) / 1e6,
        helpers=" + ".join(names),
        workers_after=len(running.scanner.workers()),
    )


def _cpu_by_pid(pids: set[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = psutil.Process(pid).cpu_times()
            out[pid] = times.user + times.system
    return out


def _rss_by_pid(pids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            out[pid] = psutil.Process(pid).memory_info().rss
    return out


@dataclass(frozen=True)
class Respawns:
    latencies: list[float]  # seconds, one per kill
    scans: list[float]  # seconds one /proc scan of the tree took while waiting for respawns


def respawn_latencies(running: Running, count: int, kills: int, seed: int = 1) -> Respawns:
    """Seconds from SIGKILL of a worker until a replacement worker pid exists, ``kills`` times.

    The victim is always the oldest worker (first seen by the bench), after a random pause: a
    long-lived worker dying, not a crash loop (which controllers may rightly slow down).
    """
    rng = random.Random(seed)
    scans: list[float] = []
    oldest_first = sorted(_live_workers(running, count, set()))
    killed: set[int] = set()
    samples: list[float] = []
    for _ in range(kills):
        before = _live_workers(running, count, killed)
        time.sleep(rng.uniform(0, RESPAWN_JITTER_S))
        victim = next(pid for pid in oldest_first if pid in before)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.perf_counter()
        killed.add(victim)
        latency, new = _wait_replacement(running, before | killed, killed_at, scans)
        samples.append(latency)
        oldest_first = [pid for pid in oldest_first if pid != victim] + sorted(new)
    return Respawns(samples, scans)


def _live_workers(running: Running, count: int, killed: set[int]) -> set[int]:
    deadline = time.perf_counter() + KILL_TIMEOUT_S
    while True:
        running.scanner.scan()
        workers = running.scanner.workers() - killed
        if len(workers) >= count:
            return workers
        running.check_alive()
        if time.perf_counter() > deadline:
            raise BenchError(f"only {len(workers)} of {count} workers came back")
        time.sleep(RESPAWN_POLL_S)


def _wait_replacement(
    running: Running, known: set[int], killed_at: float, scans: list[float]
) -> tuple[float, set[int]]:
    while True:
        started = time.perf_counter()
        running.scanner.scan()
        scans.append(time.perf_counter() - started)
        new = running.scanner.workers() - known
        if new:
            return time.perf_counter() - killed_at, new
        if time.perf_counter() - killed_at > KILL_TIMEOUT_S:
            running.check_alive()
            raise BenchError(f"no replacement worker {KILL_TIMEOUT_S:.0f} s after a SIGKILL")
        time.sleep(RESPAWN_POLL_S)


def popen_spawn_times(count: int) -> list[float]:
    """Seconds one ``subprocess.Popen(["sleep", "3600"])`` takes (it returns once exec is done)."""
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        proc = subprocess.Popen(sleep_argv())
        samples.append(time.perf_counter() - started)
        proc.kill()
        proc.wait()
    return samples


@dataclass(frozen=True)
class Capture:
    seconds: float | None
    mb_per_s: float | None
    lost_bytes: int
    sha_ok: bool
    log_tail: str = ""


def capture(tool: Tool, workroot: Path, blocks: int, binary: bool) -> Capture:
    """Run one writer of ``blocks`` x 64 KiB captured to a file; time it, then check it.

    The time runs from the moment the producer process is seen in the controller's tree (exec'd:
    its argv names producer.py) until the file holds every byte, so the controller's own
    start-up is not billed to the capture; size and sha256 are checked after the controller
    has stopped.
    """
    size, sha = blocks * producer.BLOCK, _expected_sha256(blocks, binary)
    path = workroot / f"capture-{tool.name}-{'binary' if binary else 'text'}.log"
    mode = "binary" if binary else "text"
    scenario = Scenario(writer_args=(mode, str(blocks)), capture_file=path)
    with launched(tool, scenario, workroot) as running:
        started = _wait_producer(running, path)
        seconds = None if started is None else _wait_size(running, path, size, started)
        log_tail = running.log_tail() if seconds is None else ""
        if started is None:
            log_tail = "the producer process was never seen in the tree | " + log_tail
    got = path.stat().st_size if path.exists() else 0
    sha_ok = got == size and _sha256(path) == sha
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return Capture(
        seconds=seconds,
        mb_per_s=size / seconds / 1e6 if seconds else None,
        lost_bytes=size - got,
        sha_ok=sha_ok,
        log_tail=log_tail,
    )


@functools.cache
def _expected_sha256(blocks: int, binary: bool) -> str:
    return producer.expected_sha256(blocks, binary)


def _wait_producer(running: Running, path: Path, timeout: float = 30.0) -> float | None:
    """``perf_counter()`` when a process of the tree has exec'd ``producer.py``; None if never.

    Polled like the respawn figure (a /proc scan every ~0.2 ms). A process is the producer
    when one element of its argv is the path of producer.py (so neither a ``sh -c '... |
    cat'`` holding it inside a longer string nor a forked child not yet exec'd count).
    """
    target = os.fsencode(PRODUCER)
    root = running.proc.pid
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        running.scanner.scan()
        for pid in running.scanner.helpers() - {root}:
            if target in _argv(pid):
                return time.perf_counter()
        if running.proc.poll() is not None or (path.exists() and path.stat().st_size > 0):
            return None  # gone, or output arrived without the producer ever being seen
        time.sleep(PRODUCER_POLL_S)
    return None


def _argv(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def _wait_size(
    running: Running, path: Path, size: int, started: float, stall_s: float = 5.0
) -> float | None:
    """Seconds from ``started`` until ``path`` holds ``size`` bytes.

    None if the size stops growing for ``stall_s`` or the controller exits, short of ``size``.
    """
    last, last_change = -1, time.perf_counter()
    while True:
        now = time.perf_counter()
        got = path.stat().st_size if path.exists() else 0
        if got >= size:
            return now - started
        if got != last:
            last, last_change = got, now
        elif now - last_change > stall_s or running.proc.poll() is not None:
            return None
        time.sleep(SIZE_POLL_S)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
