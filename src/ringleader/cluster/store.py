"""The cluster's desired state as the console and the library change it: read everything,
apply jobs, scale, remove, drain. Only explicit commands write here; agents never do.

Writes are transactions that compare what was read: ``apply`` shows a diff against a
snapshot and then writes only if no job it touches changed since (else ``Conflict``, and
nothing is written), so two operators never silently overwrite each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import msgspec

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.wire import Compare, DeleteRangeRequest, PutRequest, RequestOp
from ringleader.cluster.jobs import Job, decode_job, encode_job
from ringleader.cluster.keys import Keys, range_end
from ringleader.cluster.records import DrainRecord, encode
from ringleader.cluster.snapshot import ClusterSnapshot
from ringleader.errors import Conflict, LimitExceeded, NotFound

MAX_JOBS_PER_APPLY = 100  # one transaction; etcd allows 128 operations by default


class ClusterStore:
    """``ClusterStore(client, Keys("/ringleader/default"))``."""

    def __init__(self, client: EtcdClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def snapshot(self) -> ClusterSnapshot:
        """Every key of the cluster at one revision."""
        kvs, revision = await self.client.range_all(self.keys.root, range_end(self.keys.root))
        return ClusterSnapshot.from_kvs(self.keys, kvs, revision)

    async def apply(self, jobs: Mapping[str, Job], *, remove: Iterable[str] = (),
                    read: ClusterSnapshot | None = None) -> int:
        """Write ``jobs`` and delete ``remove`` in one transaction; the new revision.
        With ``read`` (the snapshot the diff was made from) refuse with Conflict when any
        of these jobs changed since; nothing is written then."""
        removed = sorted(set(remove) - set(jobs))
        if len(jobs) + len(removed) > MAX_JOBS_PER_APPLY:
            raise LimitExceeded(f"{len(jobs) + len(removed)} jobs in one apply; at most "
                                f"{MAX_JOBS_PER_APPLY} (split the file)")
        compare = []
        if read is not None:
            for name in sorted(set(jobs) | set(removed)):
                stored = read.jobs.get(name)
                revision = stored.revision if stored is not None else 0
                if stored is None and name in read.bad_jobs:
                    continue  # unreadable before: overwriting it is the repair
                compare.append(Compare(key=self.keys.job(name), target="MOD",
                                       mod_revision=revision))
        ops = [RequestOp(request_put=PutRequest(key=self.keys.job(name),
                                                value=encode_job(jobs[name])))
               for name in sorted(jobs)]
        ops += [RequestOp(request_delete_range=DeleteRangeRequest(key=self.keys.job(name)))
                for name in removed]
        response = await self.client.txn(compare, ops)
        if not response.succeeded:
            raise Conflict("jobs changed since they were read (another apply?): nothing "
                           "written; run the command again")
        return response.header.revision

    async def remove_job(self, name: str) -> None:
        """Remove a job: every node stops its processes."""
        if not await self.client.delete(self.keys.job(name)):
            raise NotFound(f"no job {name}")

    async def scale(self, name: str, processes: int) -> Job:
        """Set a job's ``count`` (or ``per_node``, for such a job); the job as written."""
        if processes < 0:
            raise ValueError("the number of processes cannot be negative")
        key = self.keys.job(name)
        for _ in range(3):  # another writer between our read and write: read again
            kv = await self.client.get(key)
            if kv is None:
                raise NotFound(f"no job {name}")
            job = decode_job(kv.value, name)
            field = "per_node" if job.per_node is not None else "count"
            if job.max_per_node is not None and field == "per_node" and (
                    processes > job.max_per_node):
                raise LimitExceeded(f"job {name}: per_node {processes} is more than "
                                    f"max_per_node {job.max_per_node}")
            scaled = msgspec.structs.replace(job, **{field: processes})
            response = await self.client.txn(
                [Compare(key=key, target="MOD", mod_revision=kv.mod_revision)],
                [RequestOp(request_put=PutRequest(key=key,
                                                  value=encode_job(scaled)))])
            if response.succeeded:
                return scaled
        raise Conflict(f"job {name} keeps changing; try again")

    async def drain(self, node: str, reason: str = "") -> None:
        """The node gets no cluster work; what it runs moves elsewhere. Its local
        watchers are not touched."""
        await self.client.put(self.keys.drain(node),
                               encode(DrainRecord(since=time.time(), reason=reason)))

    async def undrain(self, node: str) -> bool:
        """The node may get work again (placed where counts need it; nothing moves back
        by itself). False if it was not drained."""
        return bool(await self.client.delete(self.keys.drain(node)))
