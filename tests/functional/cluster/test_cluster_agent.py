"""Agents against a real etcd, each with an in-memory arbiter (the ``ClusterArbiter`` seam):
placement over three nodes, node loss and return, static stability while etcd is away or a
node is cut off alone, stop_after_disconnect, drain, scheduler failover, job changes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cluster_fakes import FakeArbiter
from etcd_harness import AUTH_PREFIX, EtcdCluster, TcpProxy

from ringleader.cluster import Agent, ClusterSettings, ClusterStore, EtcdClient, Keys
from ringleader.cluster.jobs import Job, encode_job, job_from_dict
from ringleader.config.cluster import EtcdSettings
from ringleader.testing import free_port, run_async, wait_until

TTL = 2


class Node:
    def __init__(self, agent: Agent, arbiter: FakeArbiter) -> None:
        self.agent = agent
        self.arbiter = arbiter


def job(name: str, **options: Any) -> Job:
    return job_from_dict(name, {"cmd": "sleep 60", **options})


def etcd_settings(endpoints: list[str], **kw: Any) -> EtcdSettings:
    return EtcdSettings(**{"endpoints": endpoints, "discover_members": False, "timeout": 1.0,
                           **kw})


async def start_node(endpoints: list[str], prefix: str, name: str,
                     arbiter: FakeArbiter | None = None, **kw: Any) -> Node:
    etcd_kw = {k: kw.pop(k) for k in ("user", "password") if k in kw}
    settings = ClusterSettings(**{"etcd": etcd_settings(endpoints, **etcd_kw), "name": name,
                                  "prefix": prefix, "ttl": TTL, "settle": 0, **kw})
    fake = arbiter if arbiter is not None else FakeArbiter()
    node = Node(Agent(settings, fake), fake)
    await node.agent.start()
    return node


@asynccontextmanager
async def cluster(endpoints: list[str], prefix: str, names: str, **kw: Any
                  ) -> AsyncIterator[tuple[dict[str, Node], ClusterStore]]:
    nodes: dict[str, Node] = {}
    auth = {k: v for k, v in kw.items() if k in ("user", "password")}
    async with EtcdClient(etcd_settings(endpoints, **auth, timeout=5.0)) as client:
        store = ClusterStore(client, Keys(prefix))
        try:
            for name in names:
                nodes[name] = await start_node(endpoints, prefix, name, **kw)
            yield nodes, store
        finally:
            for node in nodes.values():
                await node.agent.stop()


async def until(predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
    await wait_until(predicate, timeout=timeout, interval=0.02, what=what)


async def registered(store: ClusterStore, count: int) -> None:
    deadline = time.monotonic() + 15
    while len((await store.snapshot()).nodes) != count:
        assert time.monotonic() < deadline, "nodes did not register"
        await asyncio.sleep(0.05)


def counts(nodes: dict[str, Node], job_name: str = "web") -> dict[str, int]:
    return {name: node.arbiter.count(job_name) for name, node in nodes.items()}


def calls(nodes: dict[str, Node], job_name: str) -> dict[str, list[tuple[str, str, int]]]:
    return {name: [c for c in node.arbiter.calls if c[1] == job_name]
            for name, node in nodes.items()}


def test_three_nodes_share_a_count_and_a_lost_node_share_moves(etcd: EtcdCluster) -> None:
    prefix = "/agents1"

    async def main() -> None:
        async with cluster(etcd.endpoints, prefix, "abc") as (nodes, store):
            await registered(store, 3)
            await store.apply({"web": job("web", count=6)})
            await until(lambda: counts(nodes) == {"a": 2, "b": 2, "c": 2}, "2 per node")
            # c dies: its agent stops without giving its lease back
            lost = time.monotonic()
            await nodes["c"].agent.stop(revoke=False)
            survivors = {n: nodes[n] for n in "ab"}
            await until(lambda: counts(survivors) == {"a": 3, "b": 3}, "c's share to move")
            assert time.monotonic() - lost <= TTL + 2
            before = calls(survivors, "web")
            # c comes back (its processes died with it): it takes nothing from a and b
            nodes["c"] = await start_node(etcd.endpoints, prefix, "c")
            await store.apply({"log": job("log", per_node=1)})  # marks when c is placed
            await until(lambda: counts(nodes, "log") == {"a": 1, "b": 1, "c": 1}, "log")
            assert counts(nodes) == {"a": 3, "b": 3, "c": 0}
            assert calls(survivors, "web") == before
            snapshot = await store.snapshot()
            assert snapshot.placement().pending == {}
            assert sum(a["web"].count for a in snapshot.assignments.values()
                       if "web" in a) == 6

    run_async(main(), timeout=60)


def test_a_lease_revoked_under_a_live_agent(etcd: EtcdCluster) -> None:
    """The lease goes while the agent runs (revoked, or expired during a long pause): its
    work moves at once, the agent lets its copies go and registers on a new lease."""

    async def main() -> None:
        async with cluster(etcd.endpoints, "/agents11", "ab") as (nodes, store):
            await registered(store, 2)
            await store.apply({"web": job("web", count=4)})
            await until(lambda: counts(nodes) == {"a": 2, "b": 2}, "web")
            lease = nodes["b"].agent.session.lease
            assert lease is not None
            await store.client.lease_revoke(lease)
            await until(lambda: counts(nodes) == {"a": 4, "b": 0}, "b's share to move")
            await until(lambda: nodes["b"].agent.session.lease not in (None, lease),
                        "b's new lease")
            await registered(store, 2)
            assert counts(nodes) == {"a": 4, "b": 0}

    run_async(main(), timeout=60)


def test_etcd_away_changes_nothing_but_stop_after_disconnect(etcd_own: EtcdCluster) -> None:
    member = etcd_own.members[0]

    async def main() -> None:
        async with cluster(etcd_own.endpoints, "/agents2", "abc") as (nodes, store):
            await registered(store, 3)
            await store.apply({"web": job("web", count=6),
                               "once": job("once", count=3, stop_after_disconnect=TTL + 1)})
            await until(lambda: counts(nodes) == {"a": 2, "b": 2, "c": 2}, "web placed")
            await until(lambda: counts(nodes, "once") == {"a": 1, "b": 1, "c": 1}, "once")
            before = calls(nodes, "web")
            member.kill()
            await until(lambda: all(not n.agent.status().connected for n in nodes.values()),
                        "every agent to see etcd gone")
            status = nodes["a"].agent.status()
            assert status.disconnected_since is not None and status.last_error
            # past the ttl, "once" stops everywhere, and nothing else changed
            await until(lambda: counts(nodes, "once") == {"a": 0, "b": 0, "c": 0},
                        "stop_after_disconnect", timeout=TTL + 10)
            assert all(n.agent.status().jobs["once"].cut_off for n in nodes.values())
            assert counts(nodes) == {"a": 2, "b": 2, "c": 2}
            assert calls(nodes, "web") == before
            await asyncio.to_thread(etcd_own.restart, member)
            await until(lambda: all(n.agent.status().connected for n in nodes.values()),
                        "every agent back in touch")
            await until(lambda: counts(nodes, "once") == {"a": 1, "b": 1, "c": 1},
                        "once to run again")
            assert counts(nodes) == {"a": 2, "b": 2, "c": 2}
            assert calls(nodes, "web") == before  # no stop, no restart, no storm
            snapshot = await store.snapshot()
            assert len(snapshot.nodes) == 3  # leases survived the restart

    run_async(main(), timeout=60)


def test_a_node_cut_off_alone(etcd: EtcdCluster) -> None:
    async def main() -> None:
        proxy = TcpProxy(etcd.members[0].client_port)
        await proxy.start()
        prefix = "/agents3"
        try:
            async with cluster(etcd.endpoints, prefix, "ab") as (nodes, store):
                nodes["c"] = await start_node([proxy.url], prefix, "c")
                await registered(store, 3)
                await store.apply({"web": job("web", count=3),
                                   "once": job("once", count=3, stop_after_disconnect=1)})
                await until(lambda: counts(nodes) == {"a": 1, "b": 1, "c": 1}, "web")
                await until(lambda: counts(nodes, "once") == {"a": 1, "b": 1, "c": 1}, "once")
                proxy.block()  # c alone loses etcd
                await until(lambda: counts(nodes, "once")["c"] == 0, "c to stop once")
                others = {n: nodes[n] for n in "ab"}
                # c's lease expires: a and b take over both jobs
                await until(lambda: sum(counts(others).values()) == 3, "web to move")
                await until(lambda: sum(counts(others, "once").values()) == 3, "once moved")
                assert counts(nodes)["c"] == 1  # without stop_after_disconnect: runs on
                before = calls(others, "web")
                proxy.unblock()  # c comes back: its lease is gone, so is its work
                await until(lambda: nodes["c"].arbiter.watchers == {}, "c to let go")
                # its keepalive may still be failing on the connection the block cut
                await until(lambda: nodes["c"].agent.status().connected, "c to reconnect")
                assert calls(others, "web") == before
                assert sum(counts(nodes).values()) == 3
        finally:
            await proxy.stop()

    run_async(main(), timeout=60)


def test_watches_hung_on_a_dead_route_are_reopened(etcd: EtcdCluster) -> None:
    async def main() -> None:
        proxy = TcpProxy(etcd.members[0].client_port)
        await proxy.start()
        prefix = "/agents10"
        try:
            async with cluster(etcd.endpoints, prefix, "a") as (nodes, store):
                nodes["c"] = await start_node([proxy.url], prefix, "c", scheduler=False)
                await registered(store, 2)
                await store.apply({"web": job("web", count=2)})
                await until(lambda: counts(nodes) == {"a": 1, "c": 1}, "web")
                proxy.freeze()  # c's watch now hangs; so does its next keepalive
                agent = nodes["c"].agent
                await until(lambda: not agent.status().connected, "the missed keepalive")
                await until(lambda: agent.status().connected, "a keepalive on a new route")
                await store.scale("web", 4)  # reaches c only through a reopened watch
                await until(lambda: counts(nodes) == {"a": 2, "c": 2}, "the new count")
        finally:
            await proxy.stop()

    run_async(main(), timeout=60)


def test_drain_pending_and_scheduler_failover(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with cluster(etcd.endpoints, "/agents4", "abc") as (nodes, store):
            await registered(store, 3)
            await store.apply({"web": job("web", count=3),
                               "mars": job("mars", count=1, constraints={"zone": "mars"})})
            await until(lambda: counts(nodes) == {"a": 1, "b": 1, "c": 1}, "web")
            why = (await store.snapshot()).placement().pending["mars"]
            assert why == ("no eligible node (a: no label zone; b: no label zone; "
                           "c: no label zone)")
            await store.drain("b", "maintenance")
            await until(lambda: counts(nodes)["b"] == 0 and sum(counts(nodes).values()) == 3,
                        "b's work to move")
            assert await store.undrain("b")
            await store.apply({"log": job("log", per_node=1)})
            await until(lambda: counts(nodes, "log") == {"a": 1, "b": 1, "c": 1}, "log")
            assert counts(nodes)["b"] == 0  # nothing moved back
            holder = next(n for n, node in nodes.items() if node.agent.status().is_scheduler)
            assert all(node.agent.status().scheduler == holder for node in nodes.values())
            await nodes[holder].agent.stop(revoke=False)  # the scheduler's node dies
            rest = {n: node for n, node in nodes.items() if n != holder}
            await until(lambda: any(n.agent.status().is_scheduler for n in rest.values()),
                        "a standby to take over", timeout=TTL + 10)
            await until(lambda: sum(counts(rest).values()) == 3, "its work to move")

    run_async(main(), timeout=60)


def test_job_changes_scale_removal_and_a_local_name_clash(
        etcd: EtcdCluster, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ringleader")

    async def main() -> None:
        async with cluster(etcd.endpoints, "/agents5", "b") as (nodes, store):
            nodes["a"] = await start_node(etcd.endpoints, "/agents5", "a",
                                          FakeArbiter(local=("web",)))
            await registered(store, 2)
            await store.apply({"web": job("web", count=2, env={"V": "1"})})
            await until(lambda: counts(nodes)["b"] == 1, "web on b")
            await until(lambda: "web" in nodes["a"].agent.status().jobs, "a's report")
            problem = nodes["a"].agent.status().jobs["web"].problem
            assert problem == "a local watcher is named web: the job does not run here"
            await store.apply({"web": job("web", count=2,
                                          env={"V": "2", "API_TOKEN": "s3cret-value"})})
            await until(lambda: nodes["b"].arbiter.watchers["web"].config.env.get("V") == "2",
                        "the new definition")
            scaled = await store.scale("web", 4)
            assert scaled.count == 4
            await until(lambda: counts(nodes)["b"] == 2, "the new count")
            assert [c[0] for c in nodes["b"].arbiter.calls] == ["add", "replace", "scale"]
            await store.remove_job("web")
            await until(lambda: nodes["b"].arbiter.watchers == {}, "removal")
            # a job this node refuses (written by a console whose host knows the user)
            ghost = Job(name="ghost", options={"cmd": "x", "uid": "no-such-user-here"},
                        count=2)
            await store.client.put(store.keys.job("ghost"), encode_job(ghost))
            await until(lambda: "ghost" in nodes["b"].agent.status().jobs
                        and nodes["b"].agent.status().jobs["ghost"].problem is not None,
                        "the refusal")
            assert "refused on this node" in str(nodes["b"].agent.status().jobs["ghost"])
            assert nodes["b"].arbiter.watchers == {}

    run_async(main(), timeout=60)
    assert "(job web)" in caplog.text  # the log was captured...
    assert "s3cret-value" not in caplog.text  # ...and a job's secrets never reach it


def test_a_cold_start_waits_for_the_nodes_to_register(etcd: EtcdCluster) -> None:
    """A scheduler elected just after its node started waits ``settle`` before moving
    work, so nodes starting together share it (nothing moves back later by itself)."""
    prefix = "/agents9"

    async def main() -> None:
        async with cluster(etcd.endpoints, prefix, "") as (nodes, store):
            await store.apply({"web": job("web", count=2)})  # from before the restart
            nodes["a"] = await start_node(etcd.endpoints, prefix, "a", settle=3.0)
            await until(lambda: nodes["a"].agent.status().is_scheduler, "a to schedule")
            nodes["b"] = await start_node(etcd.endpoints, prefix, "b", scheduler=False)
            await until(lambda: sum(counts(nodes).values()) == 2, "web placed")
            assert counts(nodes) == {"a": 1, "b": 1}

    run_async(main(), timeout=60)


def test_etcd_down_at_start_then_reachable(etcd: EtcdCluster) -> None:
    async def main() -> None:
        proxy = TcpProxy(etcd.members[0].client_port)
        await proxy.start()
        proxy.block()
        try:
            async with cluster([proxy.url], "/agents6", "a") as (nodes, store):
                agent = nodes["a"].agent  # started although etcd cannot be reached
                await until(lambda: agent.status().last_error is not None, "the failure")
                assert not agent.status().connected
                proxy.unblock()
                await until(lambda: agent.status().connected, "the connection")
                await store.apply({"web": job("web", count=1)})
                await until(lambda: counts(nodes) == {"a": 1}, "web")
        finally:
            await proxy.stop()

    run_async(main(), timeout=60)


def test_the_leader_of_three_members_dies(etcd3: EtcdCluster) -> None:
    async def main() -> None:
        async with cluster(etcd3.endpoints, "/agents7", "ab") as (nodes, store):
            await registered(store, 2)
            await store.apply({"web": job("web", count=4)})
            await until(lambda: counts(nodes) == {"a": 2, "b": 2}, "web")
            before = calls(nodes, "web")
            etcd3.leader().kill()
            # a write during the election has an unknown outcome: wait for the new leader
            await asyncio.to_thread(etcd3.wait_healthy, 30, etcd3.alive())
            await store.apply({"log": job("log", per_node=1)})
            await until(lambda: counts(nodes, "log") == {"a": 1, "b": 1}, "log")
            assert calls(nodes, "web") == before

    run_async(main(), timeout=60)


def test_agents_with_etcd_auth(etcd_auth: EtcdCluster) -> None:
    prefix = AUTH_PREFIX + "auth"

    async def main() -> None:
        async with cluster(etcd_auth.endpoints, prefix, "a", user="agent",
                           password="agentpw") as (nodes, store):
            await registered(store, 1)
            await store.apply({"web": job("web", count=1)})
            await until(lambda: counts(nodes) == {"a": 1}, "web")
        async with cluster(etcd_auth.endpoints, prefix, "z", user="agent",
                           password="wrong") as (nodes, _):
            agent = nodes["z"].agent
            await until(lambda: "authentication failed" in (agent.status().last_error or ""),
                        "the refusal")
            assert not agent.status().connected and nodes["z"].arbiter.calls == []

    run_async(main(), timeout=60)


def test_unreachable_etcd_is_reported() -> None:
    port = free_port()

    async def main() -> None:
        async with cluster([f"http://127.0.0.1:{port}"], "/agents8", "a") as (nodes, _):
            agent = nodes["a"].agent
            await until(lambda: "cannot reach etcd" in (agent.status().last_error or ""),
                        "the error")
            assert agent.status().jobs == {}

    run_async(main(), timeout=30)


def test_a_second_node_of_the_same_name_runs_nothing(etcd: EtcdCluster) -> None:
    """Two agents named alike would both run that node's assignments: the second is
    refused until the first's key is gone, and runs none of them meanwhile."""
    prefix = "/agents11"

    async def main() -> None:
        async with cluster(etcd.endpoints, prefix, "a") as (nodes, store):
            await registered(store, 1)
            await store.apply({"web": job("web", count=2)})
            await until(lambda: counts(nodes) == {"a": 2}, "web on the first a")
            twin = await start_node(etcd.endpoints, prefix, "a")
            try:
                await until(lambda: "taken by another live node" in (
                    twin.agent.status().last_error or ""), "the refusal")
                assert twin.arbiter.calls == []
                await nodes["a"].agent.stop()  # the first goes: the twin takes over
                await until(lambda: twin.arbiter.count("web") == 2, "the twin to run web")
            finally:
                await twin.agent.stop()

    run_async(main(), timeout=60)
