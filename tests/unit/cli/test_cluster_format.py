"""The cluster console's pure formatters, and the local status of a cluster node."""

from __future__ import annotations

import time
from typing import Any

from ringleader.cli import cluster_format as cfmt
from ringleader.cli import format as fmt

NODE = {"name": "a", "health": "healthy", "detail": "", "api": "10.0.0.1:5555",
        "labels": {"zone": "1", "disk": "ssd"}, "version": "0.1.0", "started": 0.0,
        "lease_age": 75.0, "scheduler": True}


def status_data(**job: Any) -> dict[str, Any]:
    web = {"name": "web", "placement": "count=4", "desired": 4, "assigned": 4, "running": 3,
           "pending": None, "complete": False,
           "nodes": {"a": {"desired": 2, "running": 2, "state": "active", "problem": None},
                     "b": {"desired": 2, "running": None, "state": None, "problem": None}},
           **job}
    return {"nodes": [NODE, {**NODE, "name": "b", "health": "unreachable", "scheduler": False,
                             "detail": "no answer within 5 s", "lease_age": None}],
            "jobs": [web], "problems": []}


def test_status_shows_nodes_then_jobs_by_node() -> None:
    lines = cfmt.status(status_data()).splitlines()
    assert lines[0].split() == ["NODE", "HEALTH", "LABELS", "LEASE", "AGE", "API", "DETAIL"]
    assert lines[1].split() == ["a", "healthy", "disk=ssd,zone=1", "1m15s", "10.0.0.1:5555",
                                "scheduler"]
    assert lines[2].split()[:4] == ["b", "unreachable", "disk=ssd,zone=1", "-"]
    assert lines[2].endswith("no answer within 5 s")
    assert lines[4].split() == ["JOB", "RUNNING", "PLACEMENT", "a", "b"]
    assert lines[5].split() == ["web", "3/4", "count=4", "2/2", "?/2"]


def test_status_explains_pending_and_problems() -> None:
    data = status_data(pending="no eligible node (a: no label gpu)")
    data["jobs"][0]["nodes"]["a"]["problem"] = "a local watcher is named web"
    text = cfmt.status(data)
    assert "2/2!" in text
    assert text.splitlines()[-2:] == ["job web: pending: no eligible node (a: no label gpu)",
                                      "job web on a: a local watcher is named web"]
    assert cfmt.status({"nodes": [], "jobs": [], "problems": []}) == "no live node\n\nno jobs"


def test_health_colours_keep_columns_aligned() -> None:
    plain = cfmt.status(status_data()).splitlines()
    coloured = cfmt.status(status_data(), color=True).splitlines()
    ansi = [line.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[0m", "")
            for line in coloured]
    assert ansi == plain and "\x1b[31munreachable" in coloured[2]


def test_nodes() -> None:
    now = time.time()
    text = cfmt.nodes([{"name": "a", "labels": {}, "api": None, "version": "0.1.0",
                        "registered": now - 5, "drained": True, "scheduler": True}], now)
    assert text.splitlines()[1].split() == ["a", "-", "-", "0.1.0", "5s", "drained",
                                            "scheduler"]
    assert cfmt.nodes([], now) == "no live node"


def test_diff_never_shows_secrets() -> None:
    changes = [{"name": "web", "kind": "change", "fields": [
        {"path": "count", "secret": False, "old": 2, "new": 4},
        {"path": "options.env.DB_PASSWORD", "secret": True, "old": "***", "new": "***"},
        {"path": "options.env.MODE", "secret": False, "old": None, "new": "x"}]},
        {"name": "old", "kind": "remove", "fields": []}]
    assert cfmt.diff(changes).splitlines() == [
        "~ job web", "    count: 2 -> 4", "    options.env.DB_PASSWORD: changed (secret)",
        "    options.env.MODE: 'x'", "- job old"]
    assert cfmt.diff([]) == "no change"


def test_stream_lines_are_prefixed_node_job_wid() -> None:
    assert cfmt.log_item("a", {"watcher": "web", "wid": 2, "line": "hello"}) == (
        "a/web.2 | hello")
    event = {"topic": "process.state", "at": 0.0,
             "data": {"watcher": "web", "wid": 1, "new": "running"}}
    assert cfmt.event_item("b", event).startswith("b/web.1 | ")
    assert cfmt.event_item("b", {"topic": "config.reloaded", "at": 0.0, "data": {}}
                           ).startswith("b | ")


def test_local_status_of_a_node_shows_jobs_and_the_cluster() -> None:
    status = {"watchers": [
        {"name": "local", "state": "active", "numprocesses": 1, "running": 1,
         "processes": [{"pid": 5}]},
        {"name": "web", "state": "active", "numprocesses": 2, "running": 2, "job": "web",
         "processes": [{"pid": 6}, {"pid": 7}]}],
        "cluster": {"node": "a", "connected": True, "scheduler": "b", "is_scheduler": False,
                    "jobs": {"web": {"assigned": 2, "problem": None, "cut_off": False}}}}
    lines = fmt.status(status).splitlines()
    assert lines[0].split() == ["WATCHER", "STATE", "RUNNING", "PIDS", "JOB"]
    assert lines[1].split()[-1] == "-" and lines[2].split()[-1] == "web"
    assert lines[3] == "cluster: node a, connected, scheduler b"
    since = time.time() - 65
    status["cluster"] = {"node": "a", "connected": False, "disconnected_since": since,
                         "last_error": "cannot reach etcd", "jobs": {
                             "once": {"assigned": 1, "problem": None, "cut_off": True}}}
    lines = fmt.status(status).splitlines()
    assert lines[3].startswith(f"cluster disconnected since {fmt.clock(since)} (1m")
    assert lines[3].endswith("(node a): cannot reach etcd")
    assert lines[4] == "  job once: stopped here (stop_after_disconnect)"
    assert "JOB" not in fmt.status({"watchers": status["watchers"][:1]})
