"""Process and watcher states, and the table of allowed process transitions.

Stdlib only: this table is the documentation of the lifecycle as much as its
enforcement (``Process._transition`` is the only writer of a process's state).
"""

from __future__ import annotations

import enum


class ProcessState(enum.Enum):
    """State of one process slot (``web.3``). A slot outlives the OS processes it runs:
    a respawn is the same slot going back to STARTING with a new pid."""

    STOPPED = "stopped"  # no OS process, none wanted
    STARTING = "starting"  # spawned, warming up
    RUNNING = "running"
    STOPPING = "stopping"  # stop signal sent, waiting for the exit
    BACKOFF = "backoff"  # died or failed to spawn; respawn scheduled after a delay
    EXITED = "exited"  # ended on its own and is not respawned (respawn = false)
    FLAPPING = "flapping"  # too many early deaths; parked until retry or start
    FAILED = "failed"  # given up on; only an explicit start revives it


PS = ProcessState

TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    # STOPPED -> STARTING on spawn; -> BACKOFF/FLAPPING/FAILED when the spawn itself failed
    PS.STOPPED: frozenset({PS.STARTING, PS.BACKOFF, PS.FLAPPING, PS.FAILED}),
    # STARTING -> RUNNING once warm; -> BACKOFF/EXITED/FLAPPING/FAILED when it died early
    PS.STARTING: frozenset(
        {PS.RUNNING, PS.STOPPING, PS.BACKOFF, PS.EXITED, PS.FLAPPING, PS.FAILED}
    ),
    # RUNNING -> STOPPING on stop or recycle; -> BACKOFF/EXITED when it died on its own
    PS.RUNNING: frozenset({PS.STOPPING, PS.BACKOFF, PS.EXITED, PS.FLAPPING, PS.FAILED}),
    # STOPPING -> STOPPED once reaped (after the stop signal, or SIGKILL)
    PS.STOPPING: frozenset({PS.STOPPED}),
    # BACKOFF -> STARTING for the next try; -> BACKOFF when that spawn failed again
    PS.BACKOFF: frozenset({PS.STARTING, PS.BACKOFF, PS.STOPPED, PS.FLAPPING, PS.FAILED}),
    PS.EXITED: frozenset({PS.STARTING, PS.BACKOFF, PS.STOPPED, PS.FAILED}),
    # FLAPPING -> STARTING after retry_in; -> FLAPPING/FAILED when that spawn failed again
    PS.FLAPPING: frozenset({PS.STARTING, PS.BACKOFF, PS.FLAPPING, PS.STOPPED, PS.FAILED}),
    PS.FAILED: frozenset({PS.STARTING, PS.BACKOFF, PS.FLAPPING, PS.STOPPED}),
}

INITIAL = PS.STOPPED
# States in which the slot has a live OS process.
ALIVE: frozenset[ProcessState] = frozenset({PS.STARTING, PS.RUNNING, PS.STOPPING})


def is_allowed(old: ProcessState, new: ProcessState) -> bool:
    return new in TRANSITIONS[old]


class WatcherState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    ACTIVE = "active"
    STOPPING = "stopping"


def mermaid_diagram() -> str:
    """The process lifecycle as a Mermaid state diagram, generated from the table."""
    lines = ["stateDiagram-v2"]
    lines.append(f"    [*] --> {INITIAL.value}")
    for old, news in TRANSITIONS.items():
        lines += [f"    {old.value} --> {new.value}" for new in sorted(news, key=lambda s: s.value)]
    return "\n".join(lines)
