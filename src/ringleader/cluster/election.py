"""The scheduler election: one ``scheduler`` key, created in a transaction only where it
does not exist (create_revision 0), attached to the candidate node's lease.

Every candidate watches the key (a mirror of one key): while it exists, its holder
schedules; when it goes (the holder stopped and revoked its lease, or its lease expired
because its node died or was cut off) every candidate tries the transaction and exactly one
wins. A standby therefore takes over within the ttl of the scheduler's node. The winner
runs a ``Scheduler`` until the key is no longer its own; the scheduler's writes are guarded
by the key's create_revision, so a deposed one cannot write even before it notices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import EtcdError
from ringleader.cluster.etcd.mirror import Mirror
from ringleader.cluster.etcd.wire import Compare, PutRequest, RangeRequest, RequestOp
from ringleader.cluster.keys import Keys
from ringleader.cluster.records import SchedulerRecord, decode, encode
from ringleader.cluster.scheduler import Deposed, Scheduler

log = logging.getLogger("ringleader.cluster")


class Election:
    """Stand for scheduler with ``lease()`` (None: no lease yet) while ``run`` runs."""

    def __init__(self, client: EtcdClient, keys: Keys, node: str, *,
                 lease: Callable[[], int | None], settle_until: float = 0.0,
                 candidate: bool = True) -> None:
        self._client = client
        self._keys = keys
        self._node = node
        self._lease = lease
        self._settle_until = settle_until
        self._candidate = candidate
        self._wake = asyncio.Event()
        self._mirror = Mirror(client, keys.scheduler, on_change=lambda _: self._wake.set())
        self._scheduler: Scheduler | None = None
        self._task: asyncio.Task[None] | None = None
        self._deposed_at = 0  # create_revision of the key a scheduler of ours lost
        self._won_at = 0  # create_revision of the key our scheduler holds

    def poke(self) -> None:
        """Look again (the lease changed)."""
        self._wake.set()

    def restart_watches(self) -> None:
        """etcd is back after an outage: reopen the watches (see ``Mirror.restart``)."""
        self._mirror.restart()
        if self._scheduler is not None and self.is_scheduler:
            self._scheduler.restart_watch()

    @property
    def holder(self) -> str | None:
        """The node that schedules now, as last seen."""
        kv = self._mirror.items.get(self._keys.scheduler)
        record = decode(kv.value, SchedulerRecord) if kv is not None else None
        return record.node if record is not None else None

    @property
    def is_scheduler(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler if self.is_scheduler else None

    async def run(self) -> None:
        watching = asyncio.create_task(self._mirror.run(), name="cluster-election-watch")
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._step()
        finally:
            watching.cancel()
            await self._stop_scheduler()
            await asyncio.gather(watching, return_exceptions=True)

    async def _step(self) -> None:
        lease = self._lease()
        kv = self._mirror.items.get(self._keys.scheduler)
        if self.is_scheduler and self._mirror.revision < self._won_at:
            return  # the watch has not yet shown our own win: nothing to judge by
        if kv is not None and lease is not None and kv.lease == lease:
            if not self.is_scheduler and kv.create_revision != self._deposed_at:
                self._start_scheduler(kv.create_revision)
            return
        await self._stop_scheduler()
        if kv is None and lease is not None and self._candidate and self._mirror.revision:
            await self._campaign(lease)

    async def _campaign(self, lease: int) -> None:
        key = self._keys.scheduler
        record = encode(SchedulerRecord(node=self._node, since=time.time()))
        try:
            response = await self._client.txn(
                [Compare(key=key, target="CREATE", create_revision=0)],
                [RequestOp(request_put=PutRequest(key=key, value=record, lease=lease))],
                [RequestOp(request_range=RangeRequest(key=key))])
        except EtcdError as exc:
            log.info("scheduler election not held now (%s)", exc)
            return  # the mirror (or the session) wakes us again
        if response.succeeded:
            log.info("this node (%s) is the scheduler now", self._node)
            self._start_scheduler(response.header.revision)
            return
        holder = [kv for op in response.responses if op.response_range
                  for kv in op.response_range.kvs]
        if holder and holder[0].lease == lease:  # our own earlier attempt went through
            self._start_scheduler(holder[0].create_revision)

    def _start_scheduler(self, revision: int) -> None:
        self._won_at = revision
        self._scheduler = Scheduler(self._client, self._keys, revision,
                                    settle_until=self._settle_until)
        self._task = asyncio.create_task(self._run_scheduler(self._scheduler, revision),
                                         name="cluster-scheduler")

    async def _run_scheduler(self, scheduler: Scheduler, revision: int) -> None:
        try:
            await scheduler.run()
        except Deposed:
            log.warning("this node (%s) is no longer the scheduler", self._node)
            self._deposed_at = revision  # until the mirror shows the new holder
        except Exception:  # a bug: say so, and do not restart it in a hot loop
            log.exception("the scheduler failed; restarting it in 5 s")
            await asyncio.sleep(5.0)
        self._wake.set()

    async def _stop_scheduler(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            log.info("this node (%s) stops scheduling", self._node)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
