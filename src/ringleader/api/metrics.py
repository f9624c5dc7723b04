"""Prometheus metrics of the controller's status and stats (``GET /metrics``).

Each scrape builds its families from the status and stats it is given (no registry, no
module-level state: two controllers in one process never share metrics) and writes them in
the text exposition format (``api.exposition``).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from typing import Any

from ringleader.api.exposition import CONTENT_TYPE, Family, render
from ringleader.lifecycle.states import WatcherState

__all__ = ["render_metrics"]

_WATCHER = ("watcher",)
_PROCESS = ("watcher", "wid")


def render_metrics(status: dict[str, Any], stats: dict[str, Any] | None) -> tuple[bytes, str]:
    """(body, content type) of the text exposition for a StatusResponse-shaped ``status``
    and an optional StatsResponse-shaped ``stats``."""
    return render(_families(status, stats)), CONTENT_TYPE


def _families(status: dict[str, Any], stats: dict[str, Any] | None) -> Iterator[Family]:
    controller = status["controller"]
    up = Family("ringleader_controller_uptime_seconds", "Seconds since the controller started")
    up.add((), float(controller["uptime"]))
    rss = Family("ringleader_controller_rss_bytes", "Resident memory of the controller process")
    rss.add((), float(_own_rss()))
    yield from (up, rss)

    running = Family("ringleader_watcher_processes", "Live processes of the watcher",
                     labels=_WATCHER)
    desired = Family("ringleader_watcher_desired_processes",
                     "Processes the watcher should run (numprocesses)", labels=_WATCHER)
    state = Family("ringleader_watcher_state", "1 for the watcher's current state",
                   labels=("watcher", "state"))
    restarts = Family("ringleader_process_restarts_total", "Respawns of the process slot",
                      "counter", _PROCESS)
    uptime = Family("ringleader_process_uptime_seconds",
                    "Seconds since the slot's process started (0 if not running)",
                    labels=_PROCESS)
    states = [s.value for s in WatcherState]
    for w in status["watchers"]:
        name = w["name"]
        running.add((name,), float(w["running"]))
        desired.add((name,), float(w["numprocesses"]))
        for s in [*states, *([w["state"]] if w["state"] not in states else [])]:
            state.add((name, s), 1.0 if s == w["state"] else 0.0)
        for p in w["processes"]:
            labels = (name, str(p["wid"]))
            restarts.add(labels, float(p["restarts"]))
            uptime.add(labels, float(p["uptime"]))
    yield from (running, desired, state, restarts, uptime)
    if status.get("cluster") is not None:
        yield from _cluster_families(status["cluster"])

    if stats is None:
        return
    cpu = Family("ringleader_process_cpu_percent",
                 "CPU use of the process and its descendants, in % of one core",
                 labels=_PROCESS)
    mem = Family("ringleader_process_rss_bytes",
                 "Resident memory of the process and its descendants", labels=_PROCESS)
    fds = Family("ringleader_process_open_fds", "Open file descriptors of the process",
                 labels=_PROCESS)
    for ws in stats["watchers"]:
        for p in ws["processes"]:
            labels = (ws["name"], str(p["wid"]))
            cpu.add(labels, float(p["cpu_percent"]))
            mem.add(labels, float(p["rss"]))
            if p.get("num_fds") is not None:
                fds.add(labels, float(p["num_fds"]))
    yield from (cpu, mem, fds)


def _cluster_families(cluster: dict[str, Any]) -> Iterator[Family]:
    """A cluster node: whether etcd answers (and since when it does not), the scheduler,
    and per job what was assigned here, whether it is stopped by stop_after_disconnect or
    has a problem."""
    node = (cluster["node"],)
    connected = Family("ringleader_cluster_connected", "1 while etcd answers this node",
                       labels=("node",))
    connected.add(node, 1.0 if cluster["connected"] else 0.0)
    since = Family("ringleader_cluster_disconnected_since_seconds",
                   "Unix time since which etcd has not answered (0 while connected)",
                   labels=("node",))
    since.add(node, float(cluster.get("disconnected_since") or 0.0))
    scheduler = Family("ringleader_cluster_is_scheduler",
                       "1 when this node is the cluster's elected scheduler", labels=("node",))
    scheduler.add(node, 1.0 if cluster.get("is_scheduler") else 0.0)
    assigned = Family("ringleader_cluster_job_assigned_processes",
                      "Processes of the job assigned to this node", labels=("job",))
    cut_off = Family("ringleader_cluster_job_cut_off",
                     "1 when the job is stopped here by stop_after_disconnect", labels=("job",))
    problem = Family("ringleader_cluster_job_problem",
                     "1 when the job does not run here as assigned", labels=("job",))
    for job, info in sorted(cluster.get("jobs", {}).items()):
        assigned.add((job,), float(info["assigned"]))
        cut_off.add((job,), 1.0 if info.get("cut_off") else 0.0)
        problem.add((job,), 1.0 if info.get("problem") else 0.0)
    yield from (connected, since, scheduler, assigned, cut_off, problem)


def _own_rss() -> int:
    """This process's resident memory: /proc (cheap, current) or the peak where there is
    no /proc."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
