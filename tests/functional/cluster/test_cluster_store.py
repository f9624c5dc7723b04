"""The console's reads and writes of desired state against a real etcd: apply in one
transaction refusing lost updates, scale, remove, drain, a snapshot that explains."""

from __future__ import annotations

import pytest
from etcd_harness import EtcdCluster

from ringleader.cluster import ClusterStore, EtcdClient, Keys
from ringleader.cluster.jobs import Job, job_from_dict
from ringleader.cluster.records import NodeRecord, encode
from ringleader.config.cluster import EtcdSettings
from ringleader.errors import Conflict, LimitExceeded, NotFound
from ringleader.testing import run_async


def job(name: str, **placement: object) -> Job:
    return job_from_dict(name, {"cmd": "sleep 60", **placement})


def client(etcd: EtcdCluster) -> EtcdClient:
    return EtcdClient(EtcdSettings(endpoints=etcd.endpoints, discover_members=False))


def test_apply_writes_all_or_nothing_and_refuses_lost_updates(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd) as c:
            store = ClusterStore(c, Keys("/store1"))
            empty = await store.snapshot()
            await store.apply({"web": job("web", count=2), "api": job("api", per_node=1)},
                              read=empty)
            read = await store.snapshot()
            assert sorted(read.jobs) == ["api", "web"] and read.jobs["web"].job.count == 2
            # someone else changes web after we read: our apply must not overwrite it
            await store.apply({"web": job("web", count=5)})
            with pytest.raises(Conflict, match="nothing written"):
                await store.apply({"web": job("web", count=3), "new": job("new", count=1)},
                                  read=read)
            after = await store.snapshot()
            assert after.jobs["web"].job.count == 5 and "new" not in after.jobs
            # removal in the same transaction
            await store.apply({"new": job("new", count=1)}, remove=["api"], read=after)
            assert sorted((await store.snapshot()).jobs) == ["new", "web"]
            too_many = {f"j{i}": job(f"j{i}", count=1) for i in range(101)}
            with pytest.raises(LimitExceeded, match="at most 100"):
                await store.apply(too_many)

    run_async(main())


def test_scale_remove_drain(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd) as c:
            store = ClusterStore(c, Keys("/store2"))
            await store.apply({"web": job("web", count=2),
                               "agent": job("agent", per_node=1, max_per_node=2)})
            assert (await store.scale("web", 7)).count == 7
            assert (await store.scale("agent", 2)).per_node == 2
            with pytest.raises(LimitExceeded, match="max_per_node 2"):
                await store.scale("agent", 3)
            with pytest.raises(NotFound, match="no job nope"):
                await store.scale("nope", 1)
            await store.remove_job("web")
            with pytest.raises(NotFound):
                await store.remove_job("web")
            await store.drain("n1", "disk swap")
            snapshot = await store.snapshot()
            assert snapshot.drains["n1"].reason == "disk swap"
            assert await store.undrain("n1") and not await store.undrain("n1")

    run_async(main())


def test_a_snapshot_explains_and_survives_bad_values(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd) as c:
            keys = Keys("/store3")
            store = ClusterStore(c, keys)
            await c.put(keys.node("n1"), encode(NodeRecord(name="n1", labels={"zone": "a"})))
            await c.put(keys.node("n2"), b"garbage")
            await c.put(keys.job("broken"), b'{"name": "broken"}')
            await store.apply({"web": job("web", count=2, constraints={"zone": "b"})})
            snapshot = await store.snapshot()
            assert list(snapshot.nodes) == ["n1"]
            assert snapshot.problems[keys.node("n2")] == "not a valid node record"
            assert "broken" in snapshot.bad_jobs
            assert snapshot.placement().pending == {
                "web": "no eligible node (n1: zone=a, not b)"}
            # a broken stored job is repaired by applying it again
            await store.apply({"broken": job("broken", count=1)}, read=snapshot)
            assert "broken" in (await store.snapshot()).jobs

    run_async(main())
