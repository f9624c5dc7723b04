"""Running as a container's init (PID 1), or as a child subreaper (``run --init``).

PID 1 inherits every orphan of its PID namespace: a worker that double-forks, or dies
before its own children, leaves them to PID 1, and their zombies stay in the process
table until PID 1 waits for them. A child subreaper (prctl PR_SET_CHILD_SUBREAPER)
inherits the orphans of its descendants in the same way, outside a container.

The engine reaps its own children through pidfds (proc/reaper.py) and must keep their
exit statuses, so orphans are never reaped with ``waitpid(-1)``: on SIGCHLD the
OrphanReaper lists our children in /proc, and reaps only zombies that are not ours
(``own_pids()``), each by pid. As a second safety for children that something else
waits for but that ``own_pids`` does not list (a Popen, an asyncio subprocess), a zombie
is reaped only once it has stayed a zombie for `grace` seconds: a legitimate waiter
reaps its child at once.

PID 1 gets no signal whose disposition is the default (the kernel drops them), so the
stop signals work only once the daemon's handlers are installed (SignalQueue), which
turn SIGTERM/SIGINT into a graceful stop of everything. When PID 1 exits the kernel
kills whatever is left in the namespace; a subreaper has no such help, hence
``terminate_orphans`` before exiting.

Exit codes (``exit_code_for``):
  0        every process stopped gracefully after a requested stop (signal or quit);
  1        the controller failed to start (control API, watchers) or failed while running;
  128+N    the stop requested by signal N had to be forced (a second signal: the remaining
           processes were killed), as a shell reports a command killed by signal N;
  2        (set by the CLI, before this module is involved) a usage or config error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("ringleader.pid1")

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

EXIT_OK = 0
EXIT_FAILED = 1


def is_pid1() -> bool:
    return os.getpid() == 1


def _prctl(option: int, arg: int) -> int:
    import ctypes  # only in init mode: exit_code_for() is imported by every controller

    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0),
                             ctypes.c_ulong(0), ctypes.c_ulong(0))
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result


def set_child_subreaper(enable: bool = True) -> None:
    """Make orphaned descendants re-parent to this process (Linux >= 3.4); OSError if
    refused."""
    _prctl(PR_SET_CHILD_SUBREAPER, int(enable))


def is_child_subreaper() -> bool:
    import ctypes

    value = ctypes.c_int(0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return bool(value.value)


def exit_code_for(*, start_failed: bool = False, failed: bool = False,
                  stop_signal: int | None = None, forced: bool = False) -> int:
    """The controller's exit code (see the module docstring). `stop_signal`: the signal
    that asked for the stop, if one did; `forced`: processes had to be killed because a
    second stop signal came."""
    if start_failed or failed:
        return EXIT_FAILED
    if forced:
        return 128 + stop_signal if stop_signal else EXIT_FAILED
    return EXIT_OK


# -- /proc -------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of `pid`, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data.rsplit(b")", 1)[1].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def _child_pids() -> set[int]:
    """Candidate pids of our children (checked against /proc/PID/stat by the caller)."""
    me = os.getpid()
    found: set[int] = set()
    try:
        # Fast: the kernel's list per thread (CONFIG_PROC_CHILDREN); adopted orphans are
        # moved onto it too.
        for tid in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{tid}/children", "rb") as f:
                found.update(int(p) for p in f.read().split())
        return found
    except OSError:  # no such file (or a thread gone meanwhile): scan every process
        return {int(e) for e in os.listdir("/proc") if e.isdigit()}


def adopted_children(own: set[int]) -> dict[int, tuple[str, int]]:
    """Our children not in `own`: pid -> (state, start time)."""
    me = os.getpid()
    result: dict[int, tuple[str, int]] = {}
    for pid in _child_pids() - own:
        info = _stat(pid)
        if info is not None and info[1] == me:
            result[pid] = (info[0], info[2])
    return result


# -- the reaper --------------------------------------------------------------------------

class OrphanReaper:
    """Reaps the zombies of processes this one adopted (as PID 1 or subreaper), never the
    engine's own children."""

    def __init__(self, *, grace: float = 0.05) -> None:
        self.grace = grace
        self.reaped = 0  # how many orphans were reaped, for logs and tests
        self.recent: deque[tuple[int, int]] = deque(maxlen=64)  # (pid, wait status)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_pids: Callable[[], set[int]] = set
        self._first_seen: dict[tuple[int, int], float] = {}  # (pid, start time) -> when
        self._scan_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()

    def start(self, loop: asyncio.AbstractEventLoop, own_pids: Callable[[], set[int]], *,
              subreaper: bool | None = None) -> None:
        """Install the SIGCHLD handler (it replaces any other on this loop). `subreaper`:
        become a child subreaper first (default: when not PID 1). `own_pids` lists the
        children that someone else waits for (the engine's Reaper, the guardian)."""
        if subreaper is None:
            subreaper = not is_pid1()
        if subreaper:
            set_child_subreaper(True)
        self._loop = loop
        self._own_pids = own_pids
        loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        self._on_sigchld()  # orphans may have been adopted before the handler existed

    def close(self) -> None:
        if self._loop is None:
            return
        self._loop.remove_signal_handler(signal.SIGCHLD)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def _on_sigchld(self) -> None:
        # Several SIGCHLDs in one loop iteration: one scan.
        if not self._scan_pending and self._loop is not None:
            self._scan_pending = True
            self._loop.call_soon(self.scan)

    def scan(self) -> list[int]:
        """Reap the orphan zombies that have been zombies for `grace` seconds; returns
        their pids. A re-scan is scheduled for the others."""
        self._scan_pending = False
        self._changed.set()
        now = time.monotonic()
        zombies = {(pid, start) for pid, (state, start)
                   in adopted_children(self._own_pids()).items() if state == "Z"}
        # Forget entries whose process is gone (reaped by its waiter) or reused.
        self._first_seen = {key: t for key, t in self._first_seen.items() if key in zombies}
        reaped: list[int] = []
        for key in zombies:
            first = self._first_seen.setdefault(key, now)
            if now - first >= self.grace and self._reap(key[0]):
                del self._first_seen[key]
                reaped.append(key[0])
        if self._first_seen and self._loop is not None and self._timer is None:
            due = min(self._first_seen.values()) + self.grace - now
            self._timer = self._loop.call_later(max(due, 0.001), self._rescan)
        return reaped

    def _rescan(self) -> None:
        self._timer = None
        self.scan()

    def _reap(self, pid: int) -> bool:
        if pid in self._own_pids():  # became ours meanwhile (pid reused)
            return False
        try:
            waited, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True  # someone else reaped it after all
        if waited == 0:
            return False
        self.reaped += 1
        self.recent.append((pid, status))
        log.debug("reaped orphan pid %d (status %d)", pid, status)
        return True

    async def terminate_orphans(self, timeout: float = 5.0) -> int:
        """Stop every adopted process still alive (a subreaper's descendants would
        otherwise escape when it exits): SIGTERM, then SIGKILL after `timeout`. Returns
        how many there were. Call after the engine stopped its own processes."""
        seen: set[int] = set()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            signalled: set[int] = set()
            deadline = time.monotonic() + timeout
            while True:
                alive = self._alive()
                # Also those adopted meanwhile (children of the ones just stopped).
                for pid in alive - signalled:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                    signalled.add(pid)
                if alive - seen:
                    log.warning("%s orphaned process(es) left behind: %s", sig.name,
                                ", ".join(map(str, sorted(alive - seen))))
                seen |= alive
                if not alive or time.monotonic() >= deadline:
                    break
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    # Woken by SIGCHLD (scan); the timeout bounds a missed wakeup.
                    await asyncio.wait_for(self._changed.wait(), 0.1)
                self._reap_now()
            if not alive:
                break
        self._reap_now()
        return len(seen)

    def _alive(self) -> set[int]:
        return {p for p, (state, _) in adopted_children(self._own_pids()).items()
                if state != "Z"}

    def _reap_now(self) -> None:
        for pid, (state, _) in adopted_children(self._own_pids()).items():
            if state == "Z":
                self._reap(pid)


def enable_init(loop: asyncio.AbstractEventLoop, own_pids: Callable[[], set[int]], *,
                grace: float = 0.05) -> OrphanReaper | None:
    """Start orphan reaping as PID 1 or as a subreaper; None (with a warning) where the
    kernel refuses a subreaper."""
    reaper = OrphanReaper(grace=grace)
    try:
        reaper.start(loop, own_pids)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EPERM, errno.ENOSYS):
            raise
        log.warning("cannot become a child subreaper (%s): orphans are not reaped", exc)
        return None
    return reaper
