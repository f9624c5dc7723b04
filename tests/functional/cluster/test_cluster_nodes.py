"""Three or more nodes as separate `ringleader run` processes over a real etcd, driven by
the real `ringleader cluster` console: a count spread over the nodes and `status` 6/6, a
node SIGKILLed (its workers die with it, its share moves within ttl + 2 s) and back (no
churn elsewhere), drain/undrain, constraints, spread_by, pending with why, local changes
of a cluster watcher refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_harness import EtcdCluster
from node_harness import TTL, Nodes, all_gone

from ringleader.testing import make_test_pki, wait_until_sync


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(str(tmp_path_factory.mktemp("nodes-pki")))


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path, etcd: EtcdCluster,
          pki: dict[str, str]) -> Iterator[Nodes]:
    group = Nodes(tmp_path, etcd.endpoints, pki, prefix=f"/nodes/{request.node.name}")
    try:
        yield group
    finally:
        group.stop_all()


def test_a_count_spreads_a_node_lost_moves_and_returns_without_churn(nodes: Nodes) -> None:
    for name in "abc":
        nodes.add(name, labels={"zone": name})
    for node in nodes.nodes.values():  # the three start side by side
        node.start()
    jobs = nodes.jobs_file("""
        [jobs.web]
        cmd = "sleep 600"
        count = 6
        [jobs.web.env]
        DB_PASSWORD = "hunter2"
    """)
    applied = nodes.console("apply", jobs)
    assert applied.returncode == 0, applied.stderr
    assert "+ job web" in applied.stdout and "hunter2" not in applied.stdout
    wait_until_sync(lambda: nodes.counts() == {"a": 2, "b": 2, "c": 2}, timeout=15,
                    what="2 per node")
    wait_until_sync(lambda: nodes.console_json("status")[0] == 0, timeout=10,
                    what="cluster status 0")
    _, status = nodes.console_json("status")
    (web,) = status["jobs"]
    assert (web["running"], web["desired"], web["assigned"]) == (6, 6, 6)
    assert {n: c["running"] for n, c in web["nodes"].items()} == {"a": 2, "b": 2, "c": 2}
    assert {n["name"]: n["health"] for n in status["nodes"]} == dict.fromkeys("abc",
                                                                              "healthy")
    human = nodes.console("status")
    assert "6/6" in human.stdout and "hunter2" not in human.stdout

    # the local console shows the job, and refuses local changes of its watcher
    a = nodes.nodes["a"]
    local = a.local("status")
    assert "JOB" in local.stdout and "cluster: node a, connected" in local.stdout
    for args in (("rm", "web"), ("set", "web", "graceful_timeout", "3"), ("incr", "web")):
        refused = a.local(*args)
        assert refused.returncode == 1 and "ringleader cluster" in refused.stderr, args
        assert "cluster_owned" in refused.stderr
    assert a.running() == 2
    on_a = a.pids()
    reloaded = a.local("reloadconfig")  # the file does not define web: web stays as it runs
    assert reloaded.returncode == 0, reloaded.stderr
    assert a.pids() == on_a

    # c is SIGKILLed: the guardian takes its workers down, its 2 move within ttl + 2 s
    c = nodes.nodes["c"]
    c_pids = c.pids()
    before = {n: nodes.nodes[n].pids() for n in "ab"}
    c.kill()
    lost = time.monotonic()
    wait_until_sync(lambda: all_gone(c_pids), timeout=10, what="c's workers to die")
    wait_until_sync(lambda: nodes.counts() == {"a": 3, "b": 3}, timeout=TTL + 4,
                    what="c's share to move")
    assert time.monotonic() - lost <= TTL + 2
    for n in "ab":  # the survivors only gained: their workers of before are all there
        assert set(before[n]) <= set(nodes.nodes[n].pids())
    after = {n: nodes.nodes[n].pids() for n in "ab"}

    # c returns: it takes nothing from a and b (no churn)
    c.start()
    wait_until_sync(lambda: "c" in {n["name"] for n in nodes.console_json("nodes")[1]},
                    timeout=10, what="c registered")
    per_node = nodes.jobs_file("""
        [jobs.mark]
        cmd = "sleep 600"
        per_node = 1
    """, "mark.toml")
    assert nodes.console("apply", per_node).returncode == 0
    wait_until_sync(lambda: nodes.counts("mark") == {"a": 1, "b": 1, "c": 1}, timeout=15,
                    what="mark placed on c too")
    assert nodes.counts() == {"a": 3, "b": 3, "c": 0}
    assert {n: nodes.nodes[n].pids() for n in "ab"} == after


def test_drain_constraints_spread_and_pending(nodes: Nodes) -> None:
    labels = {"a": {"zone": "1", "disk": "ssd"}, "b": {"zone": "1", "disk": "hdd"},
              "c": {"zone": "2", "disk": "ssd"}, "d": {"zone": "2", "disk": "nvme"}}
    for name, node_labels in labels.items():
        nodes.add(name, labels=node_labels,
                  extra='[watchers.local]\ncmd = "sleep 600"\n' if name == "d" else "")
    for node in nodes.nodes.values():
        node.start()
    jobs = nodes.jobs_file("""
        [jobs.web]
        cmd = "sleep 600"
        count = 4
        spread_by = "zone"
        [jobs.fast]
        cmd = "sleep 600"
        count = 2
        constraints = { disk = ["ssd", "nvme"] }
        max_per_node = 1
        [jobs.gpu]
        cmd = "sleep 600"
        count = 1
        constraints = { gpu = "yes" }
    """)
    assert nodes.console("apply", jobs).returncode == 0
    wait_until_sync(lambda: sum(nodes.counts().values()) == 4, timeout=15, what="web")
    counts = nodes.counts()
    assert counts["a"] + counts["b"] == 2 and counts["c"] + counts["d"] == 2  # by zone
    wait_until_sync(lambda: sum(nodes.counts("fast").values()) == 2, timeout=15,
                    what="fast")
    assert nodes.counts("fast")["b"] == 0  # hdd: not a match
    code, status = nodes.console_json("status")
    assert code == 4  # degraded: gpu cannot be placed
    gpu = next(j for j in status["jobs"] if j["name"] == "gpu")
    assert gpu["pending"].startswith("no eligible node") and "no label gpu" in gpu["pending"]
    assert "job gpu: pending: no eligible node" in nodes.console("status").stdout

    # drain d: its copies go elsewhere, its local watcher stays
    local_on_d = nodes.nodes["d"].pids("local")
    assert len(local_on_d) == 1
    fast_on_d = nodes.counts("fast")["d"]
    drained = nodes.console("drain", "d", "--reason", "maintenance")
    assert drained.returncode == 0, drained.stderr
    wait_until_sync(lambda: nodes.counts()["d"] == 0 and nodes.counts("fast")["d"] == 0,
                    timeout=15, what="d drained")
    assert sum(nodes.counts().values()) == 4
    assert nodes.counts()["c"] == 2  # spread_by still holds: zone 2 is c alone now
    assert nodes.nodes["d"].pids("local") == local_on_d
    if fast_on_d:  # fast needs ssd or nvme, one per node: a and c
        wait_until_sync(lambda: sum(nodes.counts("fast").values()) == 2, timeout=15,
                        what="fast moved")
    health = {n["name"]: n for n in nodes.console_json("status")[1]["nodes"]}
    assert health["d"]["health"] == "draining" and health["d"]["detail"] == "maintenance"
    assert nodes.console("undrain", "d").returncode == 0
    assert nodes.console("undrain", "d").returncode == 1  # not drained any more
    missing = nodes.console("drain", "nope")
    assert missing.returncode == 1 and "no live node named 'nope'" in missing.stderr
