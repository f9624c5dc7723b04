"""Cheap, high-frequency view of one process tree, read from /proc.

``psutil.Process.children(recursive=True)`` reads every process on the machine on each call;
at 2,000 workers that is tens of milliseconds, far too slow for 0.2 ms polling. This scanner
lists /proc once per poll and only reads ``/proc/PID/stat`` for pids it has not classified
yet, so a poll costs about one ``listdir`` of /proc.

A *worker* is a live (non-zombie) member of the tree whose command name is ``sleep``; every
other member (the controller itself, a guardian shell, a forked child that has not exec'd
yet) is a *helper*.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

WORKER_COMM = "sleep"


@dataclass(frozen=True)
class Stat:
    """The few fields of /proc/PID/stat the bench needs."""

    pid: int
    comm: str
    state: str
    ppid: int


def read_stat(pid: int) -> Stat | None:
    """Return the parsed /proc/PID/stat of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) S ppid ...": comm may itself contain spaces and parentheses.
    open_paren, close_paren = raw.find("("), raw.rfind(")")
    fields = raw[close_paren + 2 :].split()
    return Stat(pid, raw[open_paren + 1 : close_paren], fields[0], int(fields[1]))


def list_pids() -> set[int]:
    """Return the pids present in /proc."""
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


class TreeScanner:
    """Tracks the descendants of ``root`` across polls.

    Call :meth:`scan` to refresh. A pid is read once when it first appears, and re-read on every
    scan while it is a non-worker member of the tree (it may exec into a worker, or die as a
    zombie). Known workers are re-read only when ``recheck_workers`` is set, which the respawn
    measurement needs to see a killed worker turn into a zombie.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.members: dict[int, Stat] = {}
        self._outsiders: set[int] = set()
        stat = read_stat(root)
        if stat is not None:
            self.members[root] = stat

    def scan(self, recheck_workers: bool = False) -> None:
        """Refresh the view of the tree."""
        present = list_pids()
        self._forget_vanished(present)
        self._refresh_members(recheck_workers)
        self._adopt_new(present)

    def workers(self) -> set[int]:
        """Return the live worker pids of the tree."""
        return {pid for pid, st in self.members.items() if _is_worker(st)}

    def helpers(self) -> set[int]:
        """Return the live non-worker pids of the tree, root included."""
        return {pid for pid, st in self.members.items() if not _is_worker(st) and st.state != "Z"}

    def _forget_vanished(self, present: set[int]) -> None:
        for pid in [pid for pid in self.members if pid not in present]:
            del self.members[pid]
        self._outsiders &= present

    def _refresh_members(self, recheck_workers: bool) -> None:
        for pid, old in list(self.members.items()):
            if old.comm == WORKER_COMM and old.state != "Z" and not recheck_workers:
                continue
            if old.state == "Z":
                continue
            new = read_stat(pid)
            if new is None:
                del self.members[pid]
            else:
                self.members[pid] = new

    def _adopt_new(self, present: set[int]) -> None:
        unknown = sorted(present - self.members.keys() - self._outsiders)
        stats = [st for st in map(read_stat, unknown) if st is not None]
        # Repeat until no more adoption: a child may carry a lower pid than its parent.
        adopted = True
        while adopted and stats:
            adopted = False
            rest: list[Stat] = []
            for st in stats:
                if st.ppid in self.members:
                    self.members[st.pid] = st
                    adopted = True
                else:
                    rest.append(st)
            stats = rest
        self._outsiders.update(st.pid for st in stats)


def _is_worker(st: Stat) -> bool:
    return st.comm == WORKER_COMM and st.state != "Z"
