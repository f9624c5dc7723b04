"""Prometheus exposition of the controller's status and stats (``GET /metrics``).

prometheus-client is imported on the first scrape only, and each scrape builds a fresh
``CollectorRegistry``: no module-level registry, so two controllers in one process (tests,
the library) never share metrics.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ringleader.lifecycle.states import WatcherState

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["render_metrics"]


def render_metrics(status: dict[str, Any], stats: dict[str, Any] | None) -> tuple[bytes, str]:
    """(body, content type) of the text exposition for a StatusResponse-shaped ``status``
    and an optional StatsResponse-shaped ``stats``."""
    from prometheus_client import CollectorRegistry, exposition, generate_latest
    from prometheus_client.registry import Collector

    class _Snapshot(Collector):
        def collect(self) -> Iterator[Metric]:
            return _families(status, stats)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    # The classic text format: our names need none of 1.0.0's escaping, and every Prometheus
    # version reads 0.0.4 (the client's own default answer without an Accept header).
    ctype = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)
    return generate_latest(registry), str(ctype)


def _families(status: dict[str, Any], stats: dict[str, Any] | None) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=labels)

    controller = status["controller"]
    up = gauge("ringleader_controller_uptime_seconds", "Seconds since the controller started")
    up.add_metric([], float(controller["uptime"]))
    rss = gauge("ringleader_controller_rss_bytes", "Resident memory of the controller process")
    rss.add_metric([], float(_own_rss()))
    yield from (up, rss)

    w_labels = ["watcher"]
    p_labels = ["watcher", "wid"]
    running = gauge("ringleader_watcher_processes", "Live processes of the watcher", w_labels)
    desired = gauge("ringleader_watcher_desired_processes",
                    "Processes the watcher should run (numprocesses)", w_labels)
    state = gauge("ringleader_watcher_state", "1 for the watcher's current state",
                  ["watcher", "state"])
    restarts = CounterMetricFamily("ringleader_process_restarts",
                                   "Respawns of the process slot", labels=p_labels)
    uptime = gauge("ringleader_process_uptime_seconds",
                   "Seconds since the slot's process started (0 if not running)", p_labels)
    states = [s.value for s in WatcherState]
    for w in status["watchers"]:
        name = w["name"]
        running.add_metric([name], float(w["running"]))
        desired.add_metric([name], float(w["numprocesses"]))
        for s in [*states, *([w["state"]] if w["state"] not in states else [])]:
            state.add_metric([name, s], 1.0 if s == w["state"] else 0.0)
        for p in w["processes"]:
            labels = [name, str(p["wid"])]
            restarts.add_metric(labels, float(p["restarts"]))
            uptime.add_metric(labels, float(p["uptime"]))
    yield from (running, desired, state, restarts, uptime)

    if stats is None:
        return
    cpu = gauge("ringleader_process_cpu_percent",
                "CPU use of the process and its descendants, in % of one core", p_labels)
    mem = gauge("ringleader_process_rss_bytes",
                "Resident memory of the process and its descendants", p_labels)
    fds = gauge("ringleader_process_open_fds", "Open file descriptors of the process",
                p_labels)
    for ws in stats["watchers"]:
        for p in ws["processes"]:
            labels = [ws["name"], str(p["wid"])]
            cpu.add_metric(labels, float(p["cpu_percent"]))
            mem.add_metric(labels, float(p["rss"]))
            if p.get("num_fds") is not None:
                fds.add_metric(labels, float(p["num_fds"]))
    yield from (cpu, mem, fds)


def _own_rss() -> int:
    """This process's resident memory: /proc (cheap, current) or the peak where there is
    no /proc."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
