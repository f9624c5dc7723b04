"""The elected scheduler: watches the whole cluster prefix and writes the assignments that
``placement.place`` decides, in transactions that hold only while it is still elected.

Every write compares the ``scheduler`` key's create_revision with the one this scheduler
created: a deposed scheduler (its lease expired while it was cut off, another one was
elected) can never overwrite the new one's work. Writes are batched (etcd allows 128
operations per transaction) with removals first, so a node that reads its assignments
between two batches may see a copy gone from it before it appears elsewhere, never the
same copy in two places. After a write the scheduler waits to see it come back through its
watch before placing again, so it never decides twice from a stale copy.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import EtcdAuthError, EtcdError
from ringleader.cluster.etcd.mirror import Mirror, RetryDelay
from ringleader.cluster.etcd.wire import Compare, DeleteRangeRequest, PutRequest, RequestOp
from ringleader.cluster.keys import Keys, range_end
from ringleader.cluster.placement import Placement
from ringleader.cluster.records import Assignment, encode
from ringleader.cluster.snapshot import ClusterSnapshot

log = logging.getLogger("ringleader.cluster.scheduler")
MAX_OPS = 100  # below etcd's default --max-txn-ops (128)


class Deposed(Exception):
    """This scheduler is no longer the elected one."""


def assignment_ops(keys: Keys, snapshot: ClusterSnapshot,
                   placement: Placement) -> tuple[list[RequestOp], list[str]]:
    """The writes that bring the stored assignments to ``placement`` (removals and
    decreases first), and one line per job changed, for the log. A job whose stored
    definition does not decode keeps its assignments as they are: a bad write (or a newer
    console's) must not stop its processes everywhere."""
    first: list[RequestOp] = []
    then: list[RequestOp] = []
    moves: dict[str, list[str]] = {}
    nodes = set(snapshot.assignments) | set(placement.assignments)
    for node in sorted(nodes):
        stored = snapshot.assignments.get(node, {})
        wanted = placement.assignments.get(node, {})
        for job in sorted(set(stored) | set(wanted)):
            if job in snapshot.bad_jobs:
                continue
            old = stored.get(job)
            count = wanted.get(job, 0)
            if count == 0:
                first.append(RequestOp(request_delete_range=DeleteRangeRequest(
                    key=keys.assignment(node, job))))
            else:
                new = Assignment(count=count, job_revision=snapshot.jobs[job].revision)
                if new == old:
                    continue
                op = RequestOp(request_put=PutRequest(key=keys.assignment(node, job),
                                                      value=encode(new)))
                (first if old is not None and old.count > count else then).append(op)
            if old is None or old.count != count:
                moves.setdefault(job, []).append(f"{node} {old.count if old else 0}->{count}")
    # assignment keys that did not decode are replaced or removed like the others
    for key in snapshot.problems:
        parsed = keys.parse(key)
        if parsed and parsed[0] == "assignment" and parsed[2] not in placement.assignments.get(
                parsed[1], {}):
            first.append(RequestOp(request_delete_range=DeleteRangeRequest(key=key)))
    lines = [f"job {job}: {', '.join(changes)}" for job, changes in sorted(moves.items())]
    return first + then, lines


class Scheduler:
    """Places and writes while elected; ``run`` returns (Deposed raised) once it is not."""

    def __init__(self, client: EtcdClient, keys: Keys, leader_revision: int, *,
                 settle_until: float = 0.0) -> None:
        self._client = client
        self._keys = keys
        self._leader_revision = leader_revision
        self._settle_until = settle_until  # monotonic: no placement before
        self._wake = asyncio.Event()
        self._pending: dict[str, str] = {}
        self.placement: Placement | None = None
        self._mirror = Mirror(client, keys.root, range_end(keys.root),
                              on_change=lambda _: self._wake.set())

    def restart_watch(self) -> None:
        self._mirror.restart()

    async def run(self) -> None:
        mirror = self._mirror
        watching = asyncio.create_task(mirror.run(), name="cluster-scheduler-watch")
        delay = RetryDelay(initial=0.2, maximum=5.0)
        try:
            await mirror.wait_revision(1)
            wait = self._settle_until - time.monotonic()
            if wait > 0:
                log.info("waiting %.1f s for the nodes to register", wait)
                await asyncio.sleep(wait)
            self._wake.set()
            while True:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(0)  # let a burst of watch events land first
                snapshot = ClusterSnapshot.from_kvs(self._keys, mirror.items.values(),
                                                    mirror.revision)
                try:
                    revision = await self._write(snapshot)
                except Deposed:
                    raise
                except EtcdError as exc:
                    level = logging.ERROR if isinstance(exc, EtcdAuthError) else logging.INFO
                    log.log(level, "assignments not written (%s); retrying", exc)
                    await asyncio.sleep(delay.next())
                    self._wake.set()
                    continue
                delay.reset()
                if revision:
                    await mirror.wait_revision(revision)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def _write(self, snapshot: ClusterSnapshot) -> int:
        placement = snapshot.placement()
        self.placement = placement
        self._log_pending({**placement.pending, **{
            job: f"stored definition unusable, assignments left as they are: {why}"
            for job, why in snapshot.bad_jobs.items()}})
        ops, lines = assignment_ops(self._keys, snapshot, placement)
        revision = 0
        guard = [Compare(key=self._keys.scheduler, target="CREATE",
                         create_revision=self._leader_revision)]
        for start in range(0, len(ops), MAX_OPS):
            response = await self._client.txn(guard, ops[start:start + MAX_OPS])
            if not response.succeeded:
                raise Deposed()
            revision = response.header.revision
        for line in lines:
            log.info("%s", line)
        return revision

    def _log_pending(self, pending: dict[str, str]) -> None:
        for job, why in sorted(pending.items()):
            if self._pending.get(job) != why:
                log.warning("job %s pending: %s", job, why)
        for job in sorted(set(self._pending) - set(pending)):
            log.info("job %s fully placed", job)
        self._pending = dict(pending)
