"""Resource statistics of the watched processes (CPU, memory, fds), for `stats`, `top` and
/metrics.

One ``StatsSampler`` per arbiter. ``collect`` snapshots the process slots on the loop, then
does all the psutil work in a worker thread: reading /proc for a few hundred processes takes
milliseconds that the loop must not spend. psutil itself is imported there, on the first
sample: a controller nobody asks for stats never pays its import (~22 ms, measured with
``python -X importtime -c "import psutil"``).

CPU is measured from ``cpu_times`` deltas between two samples of the same process (kept in
a cache keyed by pid and create time, so a recycled pid never inherits a stranger's
numbers); a process seen for the first time is sampled twice, ``PRIME_DELAY`` apart.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from ringleader.lifecycle.views import WatcherView

if TYPE_CHECKING:
    import psutil

__all__ = ["StatsSampler"]

PRIME_DELAY: Final = 0.1  # seconds between the two samples of a process seen for the first time
# Two callers sampling within this interval share the earlier CPU figure: a delta over a few
# milliseconds is mostly noise.
MIN_CPU_INTERVAL: Final = 0.05
FORGET_AFTER: Final = 60.0  # drop cache entries of processes not asked about for this long
# USS reads /proc/PID/smaps_rollup, whose cost grows with the mapped memory (~0.5 ms for a
# 50 MB process against ~12 us for RSS): it is refreshed at most this often per process.
USS_INTERVAL: Final = 10.0
_PROC_CHILDREN: Final = "/proc/self/task/{}/children"


@dataclass(slots=True)
class _Tracked:
    """One OS process across samples."""

    proc: psutil.Process
    create_time: float
    cpu: float = 0.0  # user+system seconds at `at`
    at: float = -1.0  # monotonic time of the last cpu sample (-1: never)
    percent: float = 0.0
    uss: int | None = None
    uss_at: float = -1e9
    seen: float = 0.0


@dataclass(slots=True)
class _Sample:
    cpu_percent: float = 0.0
    rss: int = 0
    uss: int | None = None
    num_fds: int | None = None
    num_children: int = 0


@dataclass(slots=True)
class _Job:
    """A snapshot of one slot, taken on the loop (slots change there)."""

    watcher: str
    wid: int
    pid: int
    age: float
    restarts: int
    exit_history: list[int]
    sample: _Sample | None = None


@final
class StatsSampler:
    """Samples the watched processes and their descendants. Thread-safe; one per arbiter.

    ``clock`` is monotonic (CPU intervals); ``wall`` stamps the response's ``at``.
    """

    def __init__(self, *, uss: bool = True, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._want_uss = uss
        self._clock = clock
        self._wall = wall
        self._cache: dict[int, _Tracked] = {}
        # One sampling pass at a time: passes update the shared cache from worker threads.
        self._lock = threading.Lock()
        self._has_children_file: bool | None = None

    async def collect(self, watchers: Iterable[WatcherView], *,
                      only: str | None = None) -> dict[str, Any]:
        """A StatsResponse-shaped dict of every live process of ``watchers`` (or of the one
        named ``only``). Processes that vanish meanwhile are left out, never an error."""
        jobs_by_watcher: dict[str, list[_Job]] = {}
        for w in watchers:
            if only is not None and w.name != only:
                continue
            jobs = jobs_by_watcher[w.name] = []
            for p in sorted(w.processes.values(), key=lambda p: p.wid):
                if p.is_alive and p.pid is not None:
                    jobs.append(_Job(w.name, p.wid, p.pid, round(p.uptime(), 3), p.restarts,
                                     list(p.exit_history)))
        all_jobs = [j for jobs in jobs_by_watcher.values() for j in jobs]
        if all_jobs:
            unprimed = await asyncio.to_thread(self._prime, [j.pid for j in all_jobs])
            if unprimed:
                await asyncio.sleep(PRIME_DELAY)  # the CPU measuring interval, not a sync
            await asyncio.to_thread(self._sample_all, all_jobs)
        out = []
        for name, jobs in jobs_by_watcher.items():
            procs = [_process_dict(j) for j in jobs if j.sample is not None]
            out.append({
                "name": name,
                "cpu_percent": round(sum(p["cpu_percent"] for p in procs), 1),
                "rss": sum(p["rss"] for p in procs),
                "processes": procs,
            })
        return {"at": self._wall(), "watchers": out}

    # -- in the worker thread -------------------------------------------------------------

    def _prime(self, pids: Sequence[int]) -> int:
        """Take a first CPU sample of the process trees never sampled; return how many."""
        with self._lock:
            kids = self._children_lister()
            count = 0
            for pid in pids:
                tracked = self._track(pid)
                if tracked is None or tracked.at >= 0:
                    continue
                count += 1
                tracked.cpu = _cpu_total(tracked, self._descendants(pid, kids))
                tracked.at = self._clock()
            return count

    def _sample_all(self, jobs: Sequence[_Job]) -> None:
        import psutil

        with self._lock:
            kids = self._children_lister()
            now = self._clock()
            for job in jobs:
                try:
                    job.sample = self._sample(job.pid, kids, now)
                except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess included
                    self._cache.pop(job.pid, None)
            for pid in [pid for pid, t in self._cache.items() if now - t.seen > FORGET_AFTER]:
                del self._cache[pid]

    def _sample(self, pid: int, kids: Callable[[int], list[int]], now: float) -> _Sample | None:
        import psutil

        root = self._track(pid)
        if root is None:
            return None
        tree = self._descendants(pid, kids)
        sample = _Sample(num_children=len(tree))
        with root.proc.oneshot():
            total = _cpu_total(root, tree)
            sample.rss = root.proc.memory_info().rss
            sample.num_fds = _num_fds(root.proc)
        for child in tree:
            try:
                sample.rss += child.proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        if root.at < 0:
            root.cpu, root.at = total, now
        elif now - root.at >= MIN_CPU_INTERVAL:
            # Clamped: a descendant reaped by someone else takes its CPU time with it.
            root.percent = max(0.0, (total - root.cpu) / (now - root.at) * 100.0)
            root.cpu, root.at = total, now
        sample.cpu_percent = round(root.percent, 1)
        if self._want_uss:
            if root.uss is None or now - root.uss_at >= USS_INTERVAL:
                root.uss, root.uss_at = _uss(root, tree), now
            sample.uss = root.uss
        return sample

    def _track(self, pid: int) -> _Tracked | None:
        """The cached psutil.Process of ``pid``, replaced when the pid was reused."""
        import psutil

        try:
            proc = psutil.Process(pid)  # reads the create time: one small /proc read
            created = proc.create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            self._cache.pop(pid, None)
            return None
        now = self._clock()
        tracked = self._cache.get(pid)
        if tracked is None or tracked.create_time != created:
            tracked = self._cache[pid] = _Tracked(proc, created)
        tracked.seen = now
        return tracked

    def _descendants(self, pid: int, kids: Callable[[int], list[int]]) -> list[_Tracked]:
        """The live descendants of ``pid`` (not itself)."""
        out: list[_Tracked] = []
        todo, seen = list(kids(pid)), {pid}
        while todo:
            child = todo.pop()
            if child in seen:  # pid reuse during the scan could make a cycle
                continue
            seen.add(child)
            tracked = self._track(child)
            if tracked is not None:
                out.append(tracked)
                todo.extend(kids(child))
        return out

    def _children_lister(self) -> Callable[[int], list[int]]:
        """pid -> its child pids. /proc/PID/task/TID/children where the kernel has it (no
        scan of all of /proc), else one pid -> ppid pass over /proc per sample."""
        if self._has_children_file is None:
            self._has_children_file = os.path.exists(
                _PROC_CHILDREN.format(threading.get_native_id()))
        if self._has_children_file:
            return _children_from_proc
        by_parent: dict[int, list[int]] = {}
        for child, parent in _ppid_map().items():
            by_parent.setdefault(parent, []).append(child)
        return lambda p: by_parent.get(p, [])


def _cpu_total(root: _Tracked, tree: Sequence[_Tracked]) -> float:
    """CPU seconds of the process, of its live descendants and of the children it reaped
    (psutil's children_* times, so a short-lived helper's work is not lost)."""
    import psutil

    t = root.proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in tree:
        try:
            c = child.proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += c.user + c.system
    return total


def _process_dict(job: _Job) -> dict[str, Any]:
    s = job.sample
    assert s is not None
    return {
        "wid": job.wid, "pid": job.pid, "cpu_percent": s.cpu_percent, "rss": s.rss,
        "uss": s.uss, "num_fds": s.num_fds, "num_children": s.num_children, "age": job.age,
        "restarts": job.restarts, "exit_history": job.exit_history,
    }


def _children_from_proc(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def _ppid_map() -> dict[int, int]:
    """One pass over /proc (Linux), else psutil's process table."""
    out: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        import psutil

        for p in psutil.process_iter(["ppid"]):
            out[p.pid] = p.info["ppid"]
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                out[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def _num_fds(proc: psutil.Process) -> int | None:
    import psutil

    try:
        return proc.num_fds()
    except (AttributeError, psutil.AccessDenied):  # not on Windows; another user's process
        return None


def _uss(root: _Tracked, tree: Sequence[_Tracked]) -> int | None:
    import psutil

    try:
        total = int(root.proc.memory_full_info().uss)
    except (AttributeError, psutil.AccessDenied):
        return None
    for child in tree:
        try:
            total += int(child.proc.memory_full_info().uss)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return total
