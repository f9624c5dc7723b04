"""What `cluster status` shows, built from a snapshot and the nodes' answers (pure): node
health, jobs x nodes desired against running, pending reasons, degraded or not."""

from __future__ import annotations

from typing import Any

from ringleader.cluster.etcd.wire import KeyValue
from ringleader.cluster.jobs import encode_job, job_from_dict
from ringleader.cluster.keys import Keys
from ringleader.cluster.node_api import NodeCredentials, NodeError, node_endpoint
from ringleader.cluster.overview import overview, placement_text
from ringleader.cluster.records import (
    Assignment,
    DrainRecord,
    NodeRecord,
    SchedulerRecord,
    encode,
)
from ringleader.cluster.snapshot import ClusterSnapshot

KEYS = Keys("/rl/test")
NOW = 1_000_000.0


def snapshot(jobs: dict[str, dict[str, Any]], nodes: dict[str, str | None],
             assignments: dict[str, dict[str, int]], drained: tuple[str, ...] = (),
             bad: bytes | None = None) -> ClusterSnapshot:
    kvs = [KeyValue(key=KEYS.scheduler, value=encode(SchedulerRecord(node="a", since=1.0)))]
    for name, api in nodes.items():
        kvs.append(KeyValue(key=KEYS.node(name), lease=7, value=encode(NodeRecord(
            name=name, api=api, labels={"zone": name}, version="0.1.0", started=NOW - 100,
            registered=NOW - 30))))
    for name, table in jobs.items():
        kvs.append(KeyValue(key=KEYS.job(name), mod_revision=5,
                            value=encode_job(job_from_dict(name, table))))
    for node, counts in assignments.items():
        for job, count in counts.items():
            kvs.append(KeyValue(key=KEYS.assignment(node, job),
                                value=encode(Assignment(count=count, job_revision=5))))
    for node in drained:
        kvs.append(KeyValue(key=KEYS.drain(node), value=encode(DrainRecord(since=1.0,
                                                                        reason="disk"))))
    if bad is not None:
        kvs.append(KeyValue(key=KEYS.job("broken"), value=bad))
    return ClusterSnapshot.from_kvs(KEYS, kvs, 9)


def answer(running: dict[str, int], *, connected: bool = True,
           problems: dict[str, str] | None = None) -> dict[str, Any]:
    return {"watchers": [{"name": job, "job": job, "state": "active", "running": n}
                         for job, n in running.items()]
            + [{"name": "local", "state": "active", "running": 1}],
            "cluster": {"connected": connected, "last_error": None if connected else "down",
                        "jobs": {job: {"assigned": 2, "problem": why}
                                 for job, why in (problems or {}).items()}}}


def test_a_converged_cluster_is_complete() -> None:
    snap = snapshot({"web": {"cmd": "sleep 1", "count": 4}}, {"a": "h:1", "b": "h:2"},
                    {"a": {"web": 2}, "b": {"web": 2}})
    view = overview(snap, "/rl/test", {"a": answer({"web": 2}), "b": answer({"web": 2})},
                    {}, NOW)
    (web,) = view.jobs
    assert (web.desired, web.assigned, web.running, web.pending) == (4, 4, 4, None)
    assert web.complete and not view.degraded and view.scheduler == "a"
    assert [(n.name, n.health, n.lease_age, n.scheduler) for n in view.nodes] == [
        ("a", "healthy", 30.0, True), ("b", "healthy", 30.0, False)]
    data = view.to_dict()
    assert data["jobs"][0]["complete"] and not data["degraded"]
    assert data["jobs"][0]["nodes"]["a"] == {"desired": 2, "running": 2, "state": "active",
                                             "problem": None}


def test_health_of_nodes_and_what_a_failed_node_leaves_unknown() -> None:
    snap = snapshot({"web": {"cmd": "sleep 1", "count": 6}},
                    {"a": "h:1", "b": "h:2", "c": "h:3", "d": None},
                    {"a": {"web": 2}, "b": {"web": 2}, "c": {"web": 2}}, drained=("c",))
    answers = {"a": answer({"web": 2}), "c": answer({"web": 1}),
               "b": answer({"web": 2}, connected=False)}
    view = overview(snap, "/rl/test", answers, {"d": "advertises no API address"}, NOW)
    health = {n.name: (n.health, n.detail) for n in view.nodes}
    assert health == {"a": ("healthy", ""), "b": ("disconnected", "cut off from etcd: down"),
                      "c": ("draining", "disk"), "d": ("no-api", "advertises no API address")}
    (web,) = view.jobs
    assert web.running == 5 and not web.complete and view.degraded
    snap = snapshot({"web": {"cmd": "sleep 1", "count": 2}}, {"a": "h:1", "b": "h:2"},
                    {"a": {"web": 1}, "b": {"web": 1}})
    view = overview(snap, "/rl/test", {"a": answer({"web": 1})}, {"b": "no answer"}, NOW)
    assert view.jobs[0].nodes["b"].running is None and view.jobs[0].running == 1
    assert {n.name: n.health for n in view.nodes} == {"a": "healthy", "b": "unreachable"}


def test_pending_problems_and_unreadable_jobs() -> None:
    snap = snapshot({"gpu": {"cmd": "sleep 1", "count": 1, "constraints": {"gpu": "yes"}},
                     "log": {"cmd": "sleep 1", "per_node": 1}},
                    {"a": "h:1"}, {"a": {"log": 1}}, bad=b"{not json")
    view = overview(snap, "/rl/test", {"a": answer({"log": 0}, problems={
        "log": "a local watcher is named log"})}, {}, NOW)
    jobs = {j.name: j for j in view.jobs}
    assert jobs["gpu"].pending == "no eligible node (a: no label gpu)"
    assert jobs["log"].desired == 1 and jobs["log"].nodes["a"].problem == (
        "a local watcher is named log")
    assert jobs["broken"].pending is not None and "unusable" in jobs["broken"].pending
    assert view.problems and view.problems[0].startswith("/rl/test/jobs/broken: ")


def test_placement_text() -> None:
    job = job_from_dict("w", {"cmd": "x", "count": 3, "spread_by": "zone", "max_per_node": 2,
                              "constraints": {"disk": ["ssd", "nvme"]},
                              "stop_after_disconnect": 30})
    assert placement_text(job) == ("count=3 max_per_node=2 spread_by=zone disk=ssd|nvme "
                                   "stop_after_disconnect=30s")


def test_node_addresses_and_credentials_stay_safe() -> None:
    assert node_endpoint("a", "10.0.0.5:5555").url == "https://10.0.0.5:5555"
    for bad in (None, "", "http://10.0.0.5:5555", "nohost", "h:0"):
        try:
            node_endpoint("a", bad)
        except NodeError as exc:
            assert exc.code == "no_api" and str(exc).startswith("node a: ")
        else:
            raise AssertionError(f"{bad!r} accepted")
    assert "s3cret" not in repr(NodeCredentials(token="s3cret"))
