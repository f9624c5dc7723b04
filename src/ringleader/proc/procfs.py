"""What /proc says about other processes: the members of a process group, when a process
started. Used where no pidfd can tell: a worker's children left in its process group
after it exited, and whether the controller that made a cgroup is still alive.

Parsing is pure (``parse_stat``); the readers tolerate processes vanishing under them.
"""

from __future__ import annotations

import os
from typing import NamedTuple

PROC = "/proc"


class Stat(NamedTuple):
    """The fields of /proc/PID/stat this package reads. (A NamedTuple: a frozen dataclass
    costs ~0.5 ms to define, at every controller start.)"""

    pid: int
    state: str  # R, S, D, Z, T, ...
    ppid: int
    pgrp: int
    start_ticks: int  # since boot, in clock ticks

    @property
    def is_zombie(self) -> bool:
        return self.state in ("Z", "X")


def parse_stat(text: str) -> Stat | None:
    """A /proc/PID/stat line, or None if it is not one. The command name (field 2) may
    hold spaces and parentheses: the fields after it start after the last ')'."""
    head, sep, tail = text.rpartition(")")
    fields = tail.split()
    if not sep or len(fields) < 20:
        return None
    try:
        return Stat(pid=int(head.partition(" ")[0]), state=fields[0], ppid=int(fields[1]),
                    pgrp=int(fields[2]), start_ticks=int(fields[19]))
    except ValueError:
        return None


def read_stat(pid: int, proc: str = PROC) -> Stat | None:
    """The stat of `pid`, or None if there is no such process (any more)."""
    try:
        with open(f"{proc}/{pid}/stat") as f:
            return parse_stat(f.read())
    except OSError:
        return None


def group_members(pgid: int, proc: str = PROC) -> list[int]:
    """The live (not zombie) processes in process group `pgid`: one pass over /proc
    (a few milliseconds per thousand processes; run it off the event loop)."""
    members = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry), proc)
        if stat is not None and stat.pgrp == pgid and not stat.is_zombie:
            members.append(stat.pid)
    return sorted(members)


def boot_time(proc: str = PROC) -> float:
    """The system's boot time, in seconds since the epoch (0.0 if unknown)."""
    try:
        with open(f"{proc}/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def started_before(pid: int, when: float, proc: str = PROC) -> bool:
    """Whether a live (not zombie) process `pid` exists that started no later than
    `when` (seconds since the epoch): the same process that was there then, not a
    later one that got its pid. A second of slack covers coarse timestamps."""
    stat = read_stat(pid, proc)
    if stat is None or stat.is_zombie:
        return False
    started = boot_time(proc) + stat.start_ticks / os.sysconf("SC_CLK_TCK")
    return started <= when + 1.0
