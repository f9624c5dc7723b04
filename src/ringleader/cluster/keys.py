"""The cluster's keys in etcd, all under one prefix (default ``/ringleader/<cluster>``).

=============================  =======================  =====================  ==============
key                            value (JSON)             written by             lives on
=============================  =======================  =====================  ==============
``nodes/<node>``               NodeRecord: API address, the node's agent        the node's
                               labels, version, start   (at start and after    lease
                               time, capacity           a lost lease)
``jobs/<job>``                 Job: watcher options     explicit commands      (persistent)
                               and placement            (apply, scale, rm)
``assignments/<node>/<job>``   Assignment: how many     the elected scheduler  (persistent)
                               processes, and the
                               job's mod_revision
``drain/<node>``               DrainRecord: since when  drain / undrain        (persistent)
``scheduler``                  SchedulerRecord: which   the election (a txn    the
                               node schedules           on create_revision 0)  scheduler's
                                                                               node's lease
=============================  =======================  =====================  ==============

Who watches what (never a poll):

- every agent: its own ``assignments/<node>/`` prefix (a job's change reaches a node only
  through its assignment, which carries the job's revision: then the agent reads that one
  ``jobs/<job>`` key) and the ``scheduler`` key (to stand for election when it goes);
- the elected scheduler: the whole prefix (nodes come and go, jobs, drains, assignments);
- each agent keeps its lease alive at ttl/3 (one small request; no key changes).

So per node: one lease, two watches, one keepalive every ttl/3, and writes only when the
cluster changes. Node and job names are one key segment each (``[A-Za-z0-9_.-]+``).
"""

from __future__ import annotations

from dataclasses import dataclass

NODES = "nodes/"
JOBS = "jobs/"
ASSIGNMENTS = "assignments/"
DRAIN = "drain/"
SCHEDULER = "scheduler"


def range_end(prefix: bytes) -> bytes:
    """The end of the range of keys starting with ``prefix`` (etcd's ``--prefix``)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


@dataclass(frozen=True)
class Keys:
    """The keys of one cluster, built from its prefix (no trailing slash)."""

    prefix: str

    def _key(self, *parts: str) -> bytes:
        return (self.prefix + "/" + "".join(parts)).encode()

    @property
    def root(self) -> bytes:
        """Every key of the cluster starts with this."""
        return self._key()

    def node(self, name: str) -> bytes:
        return self._key(NODES, name)

    @property
    def nodes(self) -> bytes:
        return self._key(NODES)

    def job(self, name: str) -> bytes:
        return self._key(JOBS, name)

    @property
    def jobs(self) -> bytes:
        return self._key(JOBS)

    def assignment(self, node: str, job: str) -> bytes:
        return self._key(ASSIGNMENTS, node, "/", job)

    def assignments_of(self, node: str) -> bytes:
        return self._key(ASSIGNMENTS, node, "/")

    @property
    def assignments(self) -> bytes:
        return self._key(ASSIGNMENTS)

    def drain(self, node: str) -> bytes:
        return self._key(DRAIN, node)

    @property
    def scheduler(self) -> bytes:
        return self._key(SCHEDULER)

    def parse(self, key: bytes) -> tuple[str, str, str] | None:
        """A key of this cluster -> (kind, name, job): ("node", NODE, ""), ("job", JOB, ""),
        ("assignment", NODE, JOB), ("drain", NODE, ""), ("scheduler", "", ""); None for
        a key that is none of these."""
        root = self.root
        if not key.startswith(root):
            return None
        try:
            rest = key[len(root):].decode()
        except UnicodeDecodeError:
            return None
        for kind, head in (("node", NODES), ("job", JOBS), ("drain", DRAIN)):
            if rest.startswith(head) and "/" not in rest[len(head):] and rest[len(head):]:
                return kind, rest[len(head):], ""
        if rest.startswith(ASSIGNMENTS):
            node, sep, job = rest[len(ASSIGNMENTS):].partition("/")
            if node and sep and job and "/" not in job:
                return "assignment", node, job
        if rest == SCHEDULER:
            return "scheduler", "", ""
        return None
