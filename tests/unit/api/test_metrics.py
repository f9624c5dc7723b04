"""render_metrics: the text exposition, parsed back with prometheus_client's parser."""

from __future__ import annotations

import subprocess
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


# What prometheus-client 0.26 wrote for STATUS and STATS before the exposition was ours
# (the controller's own RSS varies from run to run; everything else is fixed).
PROMETHEUS_CLIENT_OUTPUT = """\
# HELP ringleader_controller_uptime_seconds Seconds since the controller started
# TYPE ringleader_controller_uptime_seconds gauge
ringleader_controller_uptime_seconds 12.5
# HELP ringleader_controller_rss_bytes Resident memory of the controller process
# TYPE ringleader_controller_rss_bytes gauge
ringleader_controller_rss_bytes 2.39616e+07
# HELP ringleader_watcher_processes Live processes of the watcher
# TYPE ringleader_watcher_processes gauge
ringleader_watcher_processes{watcher="web"} 2.0
ringleader_watcher_processes{watcher="idle"} 0.0
# HELP ringleader_watcher_desired_processes Processes the watcher should run (numprocesses)
# TYPE ringleader_watcher_desired_processes gauge
ringleader_watcher_desired_processes{watcher="web"} 2.0
ringleader_watcher_desired_processes{watcher="idle"} 1.0
# HELP ringleader_watcher_state 1 for the watcher's current state
# TYPE ringleader_watcher_state gauge
ringleader_watcher_state{state="stopped",watcher="web"} 0.0
ringleader_watcher_state{state="starting",watcher="web"} 0.0
ringleader_watcher_state{state="active",watcher="web"} 1.0
ringleader_watcher_state{state="stopping",watcher="web"} 0.0
ringleader_watcher_state{state="stopped",watcher="idle"} 1.0
ringleader_watcher_state{state="starting",watcher="idle"} 0.0
ringleader_watcher_state{state="active",watcher="idle"} 0.0
ringleader_watcher_state{state="stopping",watcher="idle"} 0.0
# HELP ringleader_process_restarts_total Respawns of the process slot
# TYPE ringleader_process_restarts_total counter
ringleader_process_restarts_total{watcher="web",wid="1"} 4.0
ringleader_process_restarts_total{watcher="web",wid="2"} 0.0
# HELP ringleader_process_uptime_seconds Seconds since the slot's process started (0 if not running)
# TYPE ringleader_process_uptime_seconds gauge
ringleader_process_uptime_seconds{watcher="web",wid="1"} 3.0
ringleader_process_uptime_seconds{watcher="web",wid="2"} 2.0
# HELP ringleader_process_cpu_percent CPU use of the process and its descendants, in % of one core
# TYPE ringleader_process_cpu_percent gauge
ringleader_process_cpu_percent{watcher="web",wid="1"} 50.0
ringleader_process_cpu_percent{watcher="web",wid="2"} 10.0
# HELP ringleader_process_rss_bytes Resident memory of the process and its descendants
# TYPE ringleader_process_rss_bytes gauge
ringleader_process_rss_bytes{watcher="web",wid="1"} 1000.0
ringleader_process_rss_bytes{watcher="web",wid="2"} 2000.0
# HELP ringleader_process_open_fds Open file descriptors of the process
# TYPE ringleader_process_open_fds gauge
ringleader_process_open_fds{watcher="web",wid="1"} 7.0
"""


def families(body: str) -> list[tuple[str, str, str, list[tuple[str, dict[str, str], float]]]]:
    return [(f.name, f.documentation, f.type,
             [(s.name, s.labels, s.value) for s in f.samples
              if s.name != "ringleader_controller_rss_bytes"])
            for f in text_string_to_metric_families(body)]


def test_scrapers_see_what_prometheus_client_exposed() -> None:
    """Same names, help texts, types, labels, values and order, read by prometheus-client's
    own parser."""
    body, ctype = render_metrics(STATUS, STATS)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert families(body.decode()) == families(PROMETHEUS_CLIENT_OUTPUT)


def test_each_scrape_stands_alone_and_needs_neither_ssl_nor_prometheus_client() -> None:
    """The controller blocks ssl without a TLS listener (issue 8 item 9: /metrics was a
    500 then); nothing is registered anywhere between scrapes."""
    first = render_metrics(STATUS, STATS)[0]
    assert render_metrics(STATUS, STATS)[0].count(b"\n") == first.count(b"\n")
    code = ("import sys; sys.modules['ssl'] = None\n"
            "from ringleader.api.metrics import render_metrics\n"
            f"body, _ = render_metrics({STATUS!r}, {STATS!r})\n"
            "assert b'ringleader_watcher_processes' in body\n"
            "assert not [m for m in sys.modules if m.startswith('prometheus_client')]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)



def test_a_cluster_node_says_whether_and_since_when_it_is_cut_off() -> None:
    cluster = {"node": "n1", "connected": False, "disconnected_since": 1_700_000_000.5,
               "last_error": "cannot reach etcd", "scheduler": "n2", "is_scheduler": False,
               "jobs": {"web": {"assigned": 2, "problem": None, "cut_off": False},
                        "once": {"assigned": 1, "problem": "x", "cut_off": True}}}
    got = samples(render_metrics({**STATUS, "cluster": cluster}, None)[0])
    node = (("node", "n1"),)
    assert got[("ringleader_cluster_connected", node)] == 0
    assert got[("ringleader_cluster_disconnected_since_seconds", node)] == 1_700_000_000.5
    assert got[("ringleader_cluster_is_scheduler", node)] == 0
    assert got[("ringleader_cluster_job_assigned_processes", (("job", "web"),))] == 2
    assert got[("ringleader_cluster_job_cut_off", (("job", "once"),))] == 1
    assert got[("ringleader_cluster_job_problem", (("job", "once"),))] == 1
    assert got[("ringleader_cluster_job_problem", (("job", "web"),))] == 0
    lone = samples(render_metrics(STATUS, None)[0])
    assert not any(name.startswith("ringleader_cluster") for name, _ in lone)
