"""The whole cluster from one place: what ``ringleader cluster ...`` does, as an async
library.

```python
from ringleader.cluster import Cluster, EtcdSettings, NodeCredentials

async with Cluster(EtcdSettings(endpoints=["https://etcd1:2379"], ca_file="ca.pem"),
                   credentials=NodeCredentials(token=TOKEN, cafile="nodes-ca.pem")) as c:
    changes, _ = await c.apply(load_jobs_file("jobs.toml"))   # desired state, in etcd
    view = await c.status()                                   # jobs x nodes, node health
    result = await c.reload("web")                            # rolling, node by node
```

Desired state (``apply``, ``scale``, ``remove``, ``drain``) is written to etcd only. Live
commands (``status``, ``restart``, ``signal``, ``reload``, ``logs``, ``events``) go to each
node's TLS API at the address it advertises, concurrently and each within the per-node
timeout: a dead node is reported by name (``FanOut.failed``), never waited on for longer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.jobs import Job
from ringleader.cluster.jobs_file import JobChange, diff_jobs
from ringleader.cluster.keys import Keys
from ringleader.cluster.node_api import NodeApi, NodeCredentials, NodeError
from ringleader.cluster.overview import Overview, overview
from ringleader.cluster.snapshot import ClusterSnapshot
from ringleader.cluster.store import ClusterStore
from ringleader.config.cluster import EtcdSettings
from ringleader.errors import NotFound

RELOAD_TIMEOUT = 300.0  # one node's zero-downtime reload, by default
# Calls in flight at once: each is a TLS connection (a file descriptor, a handshake's CPU);
# past this, the next node's call starts as one ends (its timeout counts from its start).
MAX_CONCURRENT_CALLS = 64


def _watcher_path(job: str, action: str) -> str:
    return f"/v1/watchers/{quote(job, safe='')}/{action}"


@dataclass
class FanOut:
    """A command sent to several nodes: who answered what, who failed and why."""

    answers: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, NodeError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Rollout:
    """``reload``: the nodes done (in order), the one that failed, those left as they
    were because of it."""

    done: list[str] = field(default_factory=list)
    failed: NodeError | None = None
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StreamItem:
    """One item of a merged stream: a node's log line or event, or a node's stream ending
    (``error`` says why)."""

    node: str
    kind: str  # "log", an event topic, or "error"
    data: Any


class Cluster:
    """``async with Cluster(etcd, prefix=..., credentials=...)``; one per command or
    application. ``prefix`` defaults to ``/ringleader/<cluster>``."""

    def __init__(self, etcd: EtcdSettings, *, prefix: str | None = None,
                 cluster: str = "default",
                 credentials: NodeCredentials | None = None,
                 client: EtcdClient | None = None) -> None:
        """``client``: an etcd client to share (a node's own, for its dashboard); it is
        left open by ``close``, its owner closes it."""
        self.keys = Keys(prefix if prefix is not None else f"/ringleader/{cluster}")
        self._own_client = client is None
        self.client = client if client is not None else EtcdClient(etcd)
        self.store = ClusterStore(self.client, self.keys)
        self.nodes_api = NodeApi(credentials or NodeCredentials())

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.nodes_api.close()
        if self._own_client:
            await self.client.close()

    # -- desired state (etcd) -----------------------------------------------------------

    async def snapshot(self) -> ClusterSnapshot:
        return await self.store.snapshot()

    async def apply(self, jobs: Mapping[str, Job], *, dry_run: bool = False,
                    prune: bool = False) -> tuple[list[JobChange], int | None]:
        """The changes against what is stored, and the revision written (None for a dry
        run or when nothing changes). One transaction; Conflict (nothing written) when a
        job changed between the read and the write. ``prune``: jobs not in ``jobs`` go."""
        snapshot = await self.snapshot()
        changes = diff_jobs({n: s.job for n, s in snapshot.jobs.items()}, jobs,
                            remove_missing=prune)
        if dry_run or not changes:
            return changes, None
        changed = {c.name for c in changes if c.kind != "remove"}
        removed = [c.name for c in changes if c.kind == "remove"]
        revision = await self.store.apply({n: jobs[n] for n in changed}, remove=removed,
                                          read=snapshot)
        return changes, revision

    async def remove(self, job: str) -> None:
        await self.store.remove_job(job)

    async def scale(self, job: str, processes: int) -> Job:
        return await self.store.scale(job, processes)

    async def drain(self, node: str, reason: str = "") -> None:
        """NotFound for a node that is not registered (a typo must not drain nothing)."""
        if node not in (await self.snapshot()).nodes:
            raise NotFound(f"no live node named {node!r}")
        await self.store.drain(node, reason)

    async def undrain(self, node: str) -> None:
        if not await self.store.undrain(node):
            raise NotFound(f"node {node!r} is not drained")

    # -- live (the nodes' APIs) ---------------------------------------------------------

    async def status(self) -> Overview:
        """etcd's view plus every node's own ``status``, asked concurrently."""
        snapshot = await self.snapshot()
        result = await self._fan_out(sorted(snapshot.nodes), snapshot, "GET", "/v1/status")
        failed = {node: exc.reason for node, exc in result.failed.items()}
        return overview(snapshot, self.keys.prefix, result.answers, failed, time.time())

    async def holders(self, job: str, snapshot: ClusterSnapshot | None = None) -> list[str]:
        """The live nodes the job is assigned to, by name; NotFound for no such job."""
        snapshot = snapshot or await self.snapshot()
        if job not in snapshot.jobs and job not in snapshot.bad_jobs:
            raise NotFound(f"no job {job!r}")
        return sorted(n for n, a in snapshot.assignments.items()
                      if a.get(job) and n in snapshot.nodes)

    async def restart(self, job: str) -> FanOut:
        """Restart the job's processes on every node holding it, at once."""
        snapshot = await self.snapshot()
        return await self._fan_out(await self.holders(job, snapshot), snapshot, "POST",
                                   _watcher_path(job, "restart"))

    async def signal(self, job: str, signal: str | int) -> FanOut:
        snapshot = await self.snapshot()
        return await self._fan_out(await self.holders(job, snapshot), snapshot, "POST",
                                   _watcher_path(job, "signal"), body={"signal": signal})

    async def reload(self, job: str, *, timeout: float = RELOAD_TIMEOUT) -> Rollout:
        """A rolling reload: node after node (by name), each its zero-downtime reload;
        the first node that fails stops the rollout, the next ones keep their processes."""
        snapshot = await self.snapshot()
        order = await self.holders(job, snapshot)
        rollout = Rollout()
        for index, node in enumerate(order):
            try:
                await self.nodes_api.call(node, snapshot.nodes[node].api, "POST",
                                          _watcher_path(job, "reload"), timeout=timeout)
            except NodeError as exc:
                rollout.failed = exc
                rollout.skipped = order[index + 1:]
                break
            rollout.done.append(node)
        return rollout

    async def logs(self, job: str, *, lines: int = 100) -> tuple[list[StreamItem], FanOut]:
        """The recent output lines of the job on every node holding it, merged in time
        order, and the nodes that failed."""
        snapshot = await self.snapshot()
        result = await self._fan_out(await self.holders(job, snapshot), snapshot, "GET",
                                     "/v1/logs", query={"watcher": job, "lines": lines})
        merged = [StreamItem(node, "log", line) for node, answer in result.answers.items()
                  for line in answer.get("lines", [])]
        merged.sort(key=lambda item: (item.data.get("at", 0), item.node))
        return merged, result

    async def follow_logs(self, job: str, *, lines: int = 0) -> AsyncIterator[StreamItem]:
        """The job's output on every node holding it now, as it comes; a node whose
        stream ends or fails gives one ``error`` item, the others go on."""
        snapshot = await self.snapshot()
        nodes = await self.holders(job, snapshot)
        query: dict[str, str | int] = {"watcher": job, "lines": lines}
        async for item in self._merge(nodes, snapshot, "/v1/logs/stream", query):
            yield item

    async def events(self, topics: Sequence[str] = ()) -> AsyncIterator[StreamItem]:
        """Every live node's events (``topics``: prefixes), merged as they come."""
        snapshot = await self.snapshot()
        query = {"topic": list(topics)} if topics else None
        async for item in self._merge(sorted(snapshot.nodes), snapshot, "/v1/events", query):
            yield item

    # -- the machinery ------------------------------------------------------------------

    async def _fan_out(self, nodes: Sequence[str], snapshot: ClusterSnapshot, method: str,
                       path: str, *, body: Any = None,
                       query: Mapping[str, Any] | None = None) -> FanOut:
        result = FanOut()
        slots = asyncio.Semaphore(MAX_CONCURRENT_CALLS)

        async def one(node: str) -> None:
            async with slots:
                try:
                    result.answers[node] = await self.nodes_api.call(
                        node, snapshot.nodes[node].api, method, path, body=body, query=query)
                except NodeError as exc:
                    result.failed[node] = exc

        await asyncio.gather(*(one(n) for n in nodes))
        return result

    async def _merge(self, nodes: Sequence[str], snapshot: ClusterSnapshot, path: str,
                     query: Mapping[str, Any] | None) -> AsyncIterator[StreamItem]:
        queue: asyncio.Queue[StreamItem | None] = asyncio.Queue(maxsize=1000)

        async def pump(node: str) -> None:
            try:
                async for kind, data in self.nodes_api.stream(
                        node, snapshot.nodes[node].api, path, query=query):
                    await queue.put(StreamItem(node, kind, data))
                await queue.put(StreamItem(node, "error", NodeError(node, "stream ended")))
            except NodeError as exc:
                await queue.put(StreamItem(node, "error", exc))
            finally:
                await queue.put(None)

        tasks = [asyncio.create_task(pump(n)) for n in nodes]
        open_streams = len(tasks)
        try:
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
