"""render_metrics: the text exposition, parsed back with prometheus_client's parser."""

from __future__ import annotations

import sys
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ringleader.api.metrics import render_metrics

STATUS: dict[str, Any] = {
    "controller": {"pid": 1, "version": "0.1.0", "uptime": 12.5, "config": None},
    "watchers": [
        {"name": "web", "state": "active", "numprocesses": 2, "running": 2, "processes": [
            {"wid": 1, "pid": 10, "state": "running", "uptime": 3.0, "restarts": 4,
             "exit_code": None, "exit_signal": None},
            {"wid": 2, "pid": 11, "state": "running", "uptime": 2.0, "restarts": 0,
             "exit_code": None, "exit_signal": None},
        ]},
        {"name": "idle", "state": "stopped", "numprocesses": 1, "running": 0, "processes": []},
    ],
}
STATS: dict[str, Any] = {"at": 1.0, "watchers": [{"name": "web", "cpu_percent": 60.0,
                                                   "rss": 3000, "processes": [
    {"wid": 1, "pid": 10, "cpu_percent": 50.0, "rss": 1000, "uss": None, "num_fds": 7,
     "num_children": 0, "age": 3.0, "restarts": 4, "exit_history": []},
    {"wid": 2, "pid": 11, "cpu_percent": 10.0, "rss": 2000, "uss": 5, "num_fds": None,
     "num_children": 1, "age": 2.0, "restarts": 0, "exit_history": [-9]},
]}]}


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body.decode())
            for s in fam.samples}


def test_status_and_stats_as_prometheus_metrics() -> None:
    body, ctype = render_metrics(STATUS, STATS)
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype
    got = samples(body)
    web, p1, p2 = (("watcher", "web"),), (("watcher", "web"), ("wid", "1")), \
        (("watcher", "web"), ("wid", "2"))
    assert got[("ringleader_controller_uptime_seconds", ())] == 12.5
    assert got[("ringleader_controller_rss_bytes", ())] > 1 << 20
    assert got[("ringleader_watcher_processes", web)] == 2
    assert got[("ringleader_watcher_desired_processes", (("watcher", "idle"),))] == 1
    assert got[("ringleader_watcher_state", (("state", "active"), ("watcher", "web")))] == 1
    assert got[("ringleader_watcher_state", (("state", "stopped"), ("watcher", "web")))] == 0
    assert got[("ringleader_watcher_state", (("state", "stopped"), ("watcher", "idle")))] == 1
    assert got[("ringleader_process_restarts_total", p1)] == 4
    assert got[("ringleader_process_uptime_seconds", p2)] == 2
    assert got[("ringleader_process_cpu_percent", p1)] == 50
    assert got[("ringleader_process_rss_bytes", p2)] == 2000
    assert got[("ringleader_process_open_fds", p1)] == 7
    assert ("ringleader_process_open_fds", p2) not in got  # unknown, not 0


def test_without_stats_and_with_an_unknown_state() -> None:
    status = {**STATUS, "watchers": [{**STATUS["watchers"][1], "state": "weird"}]}
    got = samples(render_metrics(status, None)[0])
    assert got[("ringleader_watcher_state", (("state", "weird"), ("watcher", "idle")))] == 1
    assert not any(name.startswith("ringleader_process_cpu") for name, _ in got)


def test_each_scrape_has_its_own_registry() -> None:
    from prometheus_client import REGISTRY

    first = render_metrics(STATUS, STATS)[0]
    assert render_metrics(STATUS, STATS)[0].count(b"\n") == first.count(b"\n")
    assert REGISTRY.get_sample_value("ringleader_controller_uptime_seconds") is None
    assert "ringleader.api.metrics" in sys.modules
