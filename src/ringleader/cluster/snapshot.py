"""The cluster's keys read into typed records: what the scheduler places from and what the
console shows. Values that do not decode are kept aside with the reason (``problems``),
never fatal: one bad key must not stop the scheduling of everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ringleader.cluster.etcd.wire import KeyValue
from ringleader.cluster.jobs import Job, decode_job
from ringleader.cluster.keys import Keys
from ringleader.cluster.placement import NodeInfo, Placement, place
from ringleader.cluster.records import (
    Assignment,
    DrainRecord,
    NodeRecord,
    SchedulerRecord,
    decode,
)
from ringleader.errors import ConfigError


@dataclass(frozen=True)
class StoredJob:
    job: Job
    revision: int  # mod_revision of jobs/<job>: what assignments refer to


@dataclass
class ClusterSnapshot:
    """Everything under a cluster's prefix at ``revision``."""

    revision: int = 0
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    node_leases: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, StoredJob] = field(default_factory=dict)
    drains: dict[str, DrainRecord] = field(default_factory=dict)
    assignments: dict[str, dict[str, Assignment]] = field(default_factory=dict)
    scheduler: SchedulerRecord | None = None
    problems: dict[bytes, str] = field(default_factory=dict)  # key -> why it was ignored
    bad_jobs: dict[str, str] = field(default_factory=dict)  # job -> why it did not decode

    @classmethod
    def from_kvs(cls, keys: Keys, kvs: Iterable[KeyValue], revision: int) -> ClusterSnapshot:
        snap = cls(revision=revision)
        for kv in kvs:
            snap._add(keys, kv)
        return snap

    def _add(self, keys: Keys, kv: KeyValue) -> None:
        parsed = keys.parse(kv.key)
        if parsed is None:
            return  # not ours (or a future kind of key): ignored
        kind, name, job = parsed
        if kind == "job":
            try:
                self.jobs[name] = StoredJob(decode_job(kv.value, name), kv.mod_revision)
            except ConfigError as exc:
                self.problems[kv.key] = self.bad_jobs[name] = "; ".join(exc.problems)
            return
        ok = True
        if kind == "node":
            node = decode(kv.value, NodeRecord)
            if ok := node is not None:
                self.nodes[name] = node
                self.node_leases[name] = kv.lease
        elif kind == "drain":
            drain = decode(kv.value, DrainRecord)
            if ok := drain is not None:
                self.drains[name] = drain
        elif kind == "assignment":
            assignment = decode(kv.value, Assignment)
            if ok := assignment is not None:
                self.assignments.setdefault(name, {})[job] = assignment
        else:
            self.scheduler = decode(kv.value, SchedulerRecord)
            ok = self.scheduler is not None
        if not ok:
            self.problems[kv.key] = f"not a valid {kind} record"

    def node_infos(self) -> dict[str, NodeInfo]:
        return {name: NodeInfo(name, dict(rec.labels), name in self.drains)
                for name, rec in self.nodes.items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """node -> job -> assigned count, as stored."""
        return {node: {job: a.count for job, a in jobs.items()}
                for node, jobs in self.assignments.items()}

    def placement(self) -> Placement:
        """What the scheduler would decide from this snapshot (pending reasons included)."""
        return place({name: s.job for name, s in self.jobs.items()}, self.node_infos(),
                     self.counts())
