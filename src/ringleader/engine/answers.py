"""The typed answers of the engine: what ``Arbiter`` queries return, what the control API
sends as JSON and what the library's ``BackgroundArbiter`` returns. One definition for the
three, so a field added here reaches them all (and the OpenAPI document).

The shaping helpers below turn engine data into these Structs; the Arbiter calls them,
and the API and the library call the Arbiter.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ringleader.config.plan import ReloadPlan
from ringleader.lifecycle.events import Event


class Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every answer: frozen, keyword-only, strict when decoded from JSON."""


class Ok(Answer, frozen=True, kw_only=True):
    ok: bool = True
    detail: str = ""


# -- status -----------------------------------------------------------------------------

class ProcessInfo(Answer, frozen=True, kw_only=True):
    """One process slot of a watcher (``web.3``)."""

    wid: int
    name: str = ""  # "web.3", or the watcher's process_name for it ("web_02")
    pid: int | None
    state: str
    reason: str = ""  # why it is in that state (exit code, backoff delay, flapping...)
    status: str = ""  # what the process says of itself (sd_notify STATUS=)
    uptime: float
    restarts: int
    exit_code: int | None
    exit_signal: int | None
    exit_history: list[int] = []  # recent exit codes, negative: killed by that signal
    retry_at: float | None = None  # unix time of the next try of a backoff/flapping slot


class WatcherInfo(Answer, frozen=True, kw_only=True):
    """A watcher and its process slots."""

    name: str
    group: str | None = None  # its [groups.NAME] (supervisord [group:x])
    # stopped, starting, active, stopping; failed, flapping or backoff (a crash loop
    # waiting out a respawn delay) when a process is parked
    state: str
    # running or stopped: what the controller means it to be (autostart, last start/stop)
    desired: str = "stopped"
    detail: str = ""  # why it is parked (with the last exit codes), or refused
    retry_at: float | None = None  # unix time of the parked process's next try, if due
    numprocesses: int
    running: int
    processes: list[ProcessInfo]
    job: str | None = None  # on a cluster node: the cluster job that owns this watcher


class ControllerInfo(Answer, frozen=True, kw_only=True):
    """The controller itself (for the library: the application's own process)."""

    pid: int
    version: str
    uptime: float
    config: str | None
    starting: bool = False  # still starting the watchers it runs from the start


class ClusterJobInfo(Answer, frozen=True, kw_only=True):
    """A cluster job as this node sees it."""

    assigned: int  # processes the cluster's scheduler assigned to this node
    problem: str | None = None  # why it does not run here as assigned
    cut_off: bool = False  # stopped here by stop_after_disconnect


class ClusterInfo(Answer, frozen=True, kw_only=True):
    """This controller as a cluster node (only with a [cluster] table)."""

    node: str
    connected: bool  # etcd answers
    disconnected_since: float | None = None  # unix time since which etcd has not answered
    last_error: str | None = None
    scheduler: str | None = None  # the node that schedules, as last seen
    is_scheduler: bool = False
    advertise: str | None = None  # this node's TLS API address, for the cluster console
    jobs: dict[str, ClusterJobInfo] = {}


class StatusResponse(Answer, frozen=True, kw_only=True):
    """The controller and every watcher, in start order (and, on a cluster node, its
    cluster state)."""

    controller: ControllerInfo
    watchers: list[WatcherInfo]
    cluster: ClusterInfo | None = None


class WatcherList(Answer, frozen=True, kw_only=True):
    watchers: list[str]


class NumProcesses(Answer, frozen=True, kw_only=True):
    name: str
    numprocesses: int


class SignalResult(Answer, frozen=True, kw_only=True):
    signalled: int


class OptionsResponse(Answer, frozen=True, kw_only=True):
    """A watcher's options with the config file's names and values."""

    name: str
    options: dict[str, Any]


class ReloadConfigResponse(Answer, frozen=True, kw_only=True):
    """What a configuration reload did, by watcher name."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    rescaled: list[str]


# -- stats, logs, events, sockets ------------------------------------------------------

class ProcessStats(Answer, frozen=True, kw_only=True):
    wid: int
    pid: int
    cpu_percent: float  # of one core, children included
    rss: int  # bytes, children included
    uss: int | None  # bytes, where the OS tells it
    num_fds: int | None
    num_children: int
    age: float
    restarts: int
    exit_history: list[int]  # recent exit codes of this slot (negative: killed by signal)


class WatcherStats(Answer, frozen=True, kw_only=True):
    name: str
    cpu_percent: float
    rss: int
    processes: list[ProcessStats]
    # The watcher's cgroup (memory_current, pids_current, ...), when it runs in one.
    cgroup: dict[str, int | float | None] | None = None
    # What the watcher's extended_stats hook returned, when it has one.
    extended: dict[str, Any] | None = None


class StatsResponse(Answer, frozen=True, kw_only=True):
    """CPU, memory and fds of every live process, sampled at ``at`` (wall clock)."""

    at: float
    watchers: list[WatcherStats]


class LogLine(Answer, frozen=True, kw_only=True):
    """One line of a process's output."""

    at: float
    watcher: str
    wid: int
    stream: Literal["stdout", "stderr"]
    line: str  # decoded as UTF-8 with replacement


class LogsResponse(Answer, frozen=True, kw_only=True):
    lines: list[LogLine]


class EventMessage(Answer, frozen=True, kw_only=True):
    """An event as the API streams it (the library gives the typed Event itself)."""

    topic: str
    at: float
    data: dict[str, Any]


class SocketInfo(Answer, frozen=True, kw_only=True):
    name: str
    address: str
    fd: int | None


class SocketList(Answer, frozen=True, kw_only=True):
    sockets: list[SocketInfo]


class ControllerOptions(Answer, frozen=True, kw_only=True):
    """The controller's own options (circusctl globaloptions); tokens by name only."""

    options: dict[str, Any]


class DaemonStats(Answer, frozen=True, kw_only=True):
    """The controller process itself (circusctl dstats)."""

    pid: int
    cpu: float  # per cent of one core, over a short sample
    rss: int  # bytes
    vms: int
    fds: int
    threads: int
    children: int  # its direct children: workers and the guardian
    uptime: float


# -- shaping ----------------------------------------------------------------------------

def event_message(event: Event) -> EventMessage:
    data = {f: getattr(event, f) for f in event.__struct_fields__ if f != "at"}
    return EventMessage(topic=event.topic, at=event.at, data=data)


def reload_answer(plan: ReloadPlan) -> ReloadConfigResponse:
    return ReloadConfigResponse(
        added=[w.name for w in plan.added], removed=list(plan.removed),
        changed=[w.name for w in plan.changed], rescaled=[w.name for w in plan.rescaled],
    )
