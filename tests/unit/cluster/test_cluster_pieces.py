"""The small pure pieces: key layout, reconcile plans, settings, the scheduler's writes, the
mapping of etcd's answers to errors, endpoint parsing."""

from __future__ import annotations

import pytest

from ringleader.cluster.arbiter_port import OwnedWatcher
from ringleader.cluster.etcd.errors import (
    EtcdAuthError,
    EtcdCompacted,
    EtcdError,
    EtcdLeaseNotFound,
    is_try_elsewhere,
    server_error,
)
from ringleader.cluster.etcd.http import Endpoint, parse_endpoint
from ringleader.cluster.etcd.wire import KeyValue
from ringleader.cluster.jobs import encode_job, job_from_dict
from ringleader.cluster.keys import Keys, range_end
from ringleader.cluster.placement import Placement
from ringleader.cluster.reconcile import plan
from ringleader.cluster.records import Assignment, NodeRecord, encode
from ringleader.cluster.scheduler import assignment_ops
from ringleader.cluster.snapshot import ClusterSnapshot
from ringleader.config.cluster import EtcdSettings, settings_from_dict
from ringleader.config.load import watcher_from_dict
from ringleader.errors import ConfigError

KEYS = Keys("/ringleader/prod")


def test_key_layout() -> None:
    assert KEYS.node("n1") == b"/ringleader/prod/nodes/n1"
    assert KEYS.job("web") == b"/ringleader/prod/jobs/web"
    assert KEYS.assignment("n1", "web") == b"/ringleader/prod/assignments/n1/web"
    assert KEYS.assignments_of("n1") == b"/ringleader/prod/assignments/n1/"
    assert KEYS.drain("n1") == b"/ringleader/prod/drain/n1"
    assert KEYS.scheduler == b"/ringleader/prod/scheduler"
    assert KEYS.parse(KEYS.assignment("n1", "web")) == ("assignment", "n1", "web")
    assert KEYS.parse(KEYS.node("n1")) == ("node", "n1", "")
    assert KEYS.parse(KEYS.scheduler) == ("scheduler", "", "")
    for foreign in (b"/ringleader/other/nodes/n1", b"/ringleader/prod/nodes/", b"/x",
                    b"/ringleader/prod/assignments/n1", b"/ringleader/prod/jobs/a/b",
                    b"/ringleader/prod/\xff"):
        assert KEYS.parse(foreign) is None
    # n1's prefix does not cover n10's keys
    end = range_end(KEYS.assignments_of("n1"))
    assert not KEYS.assignments_of("n1") <= KEYS.assignment("n10", "web") < end
    assert range_end(b"a\xff") == b"b" and range_end(b"\xff") == b"\0"


def config(name: str, n: int, **options: object) -> object:
    return watcher_from_dict({"name": name, "cmd": "sleep 60", "numprocesses": n, **options})


def test_reconcile_plans_the_smallest_change_removals_first() -> None:
    web2, api1 = config("web", 2), config("api", 1)
    owned = {"web": OwnedWatcher("web", web2), "old": OwnedWatcher("old", config("old", 1)),
             "api": OwnedWatcher("api", api1)}
    desired = {"web": config("web", 3), "api": api1, "new": config("new", 1)}
    actions = plan(desired, owned)  # type: ignore[arg-type]
    assert [(a.kind, a.name) for a in actions] == [("remove", "old"), ("update", "web"),
                                                   ("add", "new")]
    changed = {"web": config("web", 2, graceful_timeout=1), "api": api1}
    assert [(a.kind, a.name) for a in plan(changed, owned)] == [  # type: ignore[arg-type]
        ("remove", "old"), ("update", "web")]
    assert plan({"web": web2}, {"web": OwnedWatcher("web", web2)}) == []  # type: ignore[dict-item]


def test_settings_from_a_cluster_table() -> None:
    s = settings_from_dict({"etcd": ["http://127.0.0.1:2379"], "name": "n1",
                            "labels": {"zone": "a"}, "user": "agent", "password": "pw",
                            "ttl": 5})
    assert s.etcd.endpoints == ["http://127.0.0.1:2379"] and s.etcd.user == "agent"
    assert s.key_prefix == "/ringleader/default" and s.settle_seconds == 5.0
    assert "pw" not in repr(s) and "pw" not in repr(s.etcd) and "pw" not in str(s.etcd)
    with pytest.raises(ConfigError, match=r"^\[cluster\] etcd: missing"):
        settings_from_dict({})
    with pytest.raises(ConfigError, match=r"\[cluster\] etcd: expected http"):
        settings_from_dict({"etcd": ["ftp://x"]})
    with pytest.raises(ConfigError, match=r"\[cluster\] ttl: expected `int` >= 2"):
        settings_from_dict({"etcd": "127.0.0.1:2379", "ttl": 1})
    with pytest.raises(ConfigError, match="user: goes with password"):
        settings_from_dict({"etcd": "127.0.0.1:2379", "user": "agent"})
    with pytest.raises(ConfigError, match="prefix"):
        settings_from_dict({"etcd": "127.0.0.1:2379", "prefix": "no/slash/"})
    with pytest.raises(ConfigError, match=r"\[cluster\] bogus: unknown option"):
        settings_from_dict({"etcd": "127.0.0.1:2379", "bogus": 1})
    clear = EtcdSettings(endpoints=["http://10.0.0.1:2379"], user="a", password="b")
    assert clear.warnings() == ["the etcd password goes in clear text to "
                                "http://10.0.0.1:2379 (use an https endpoint)"]
    assert EtcdSettings(endpoints=["http://127.0.0.1:2379"], user="a",
                        password="b").warnings() == []


def test_endpoints() -> None:
    assert parse_endpoint("127.0.0.1:2379") == Endpoint("http", "127.0.0.1", 2379)
    assert parse_endpoint("https://[::1]:2379/") == Endpoint("https", "::1", 2379)
    assert parse_endpoint("https://[::1]:2379").url == "https://[::1]:2379"
    for bad in ("http://::1:2379", "http://host", "http://host:0", "unix:/x", "host:70000",
                "http://host:1/path"):
        with pytest.raises(ValueError, match="expected http"):
            parse_endpoint(bad)


def test_etcd_answers_map_to_a_small_hierarchy() -> None:
    assert isinstance(server_error(11, "etcdserver: mvcc: required revision has been "
                                       "compacted"), EtcdCompacted)
    assert isinstance(server_error(5, "etcdserver: requested lease not found"),
                      EtcdLeaseNotFound)
    denied = server_error(7, "etcdserver: permission denied")
    assert isinstance(denied, EtcdAuthError) and str(denied) == "etcd: permission denied"
    assert "configure a user and password" in str(server_error(3, "etcdserver: user name "
                                                                  "is empty"))
    other = server_error(3, "etcdserver: too many operations in txn request")
    assert type(other) is EtcdError
    assert str(other) == "etcd: too many operations in txn request"
    assert is_try_elsewhere(14, "etcdserver: no leader")
    assert is_try_elsewhere(0, "etcdserver: request timed out")
    assert not is_try_elsewhere(3, "etcdserver: key not found")


def kv(key: bytes, value: bytes, rev: int = 5) -> KeyValue:
    return KeyValue(key=key, value=value, mod_revision=rev, create_revision=rev)


def test_scheduler_writes_removals_first_and_leaves_unreadable_jobs_alone() -> None:
    web = job_from_dict("web", {"cmd": "x", "count": 3})
    snapshot = ClusterSnapshot.from_kvs(KEYS, [
        kv(KEYS.node("a"), encode(NodeRecord(name="a"))),
        kv(KEYS.node("b"), encode(NodeRecord(name="b"))),
        kv(KEYS.job("web"), encode_job(web), 7),
        kv(KEYS.job("broken"), b"{garbage", 8),
        kv(KEYS.assignment("a", "web"), encode(Assignment(count=3, job_revision=7))),
        kv(KEYS.assignment("gone", "web"), encode(Assignment(count=1, job_revision=7))),
        kv(KEYS.assignment("a", "broken"), encode(Assignment(count=2, job_revision=8))),
        kv(KEYS.assignment("b", "junk"), b"not json"),
    ], 10)
    assert snapshot.bad_jobs.keys() == {"broken"}
    placement = Placement({"a": {"web": 2}, "b": {"web": 1}}, {})
    ops, lines = assignment_ops(KEYS, snapshot, placement)
    described = [("put", op.request_put.key) if op.request_put else
                 ("delete", op.request_delete_range.key)  # type: ignore[union-attr]
                 for op in ops]
    assert described == [("put", KEYS.assignment("a", "web")),  # a decrease, first
                         ("delete", KEYS.assignment("gone", "web")),
                         ("delete", KEYS.assignment("b", "junk")),
                         ("put", KEYS.assignment("b", "web"))]
    assert lines == ["job web: a 3->2, b 0->1, gone 1->0"]
    # already as placed: nothing to write
    stored = ClusterSnapshot.from_kvs(KEYS, [
        kv(KEYS.job("web"), encode_job(web), 7),
        kv(KEYS.assignment("a", "web"), encode(Assignment(count=2, job_revision=7)))], 9)
    assert assignment_ops(KEYS, stored, Placement({"a": {"web": 2}}, {})) == ([], [])
