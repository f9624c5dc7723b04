"""Where each job's processes run: a pure function of the jobs, the live nodes and the
previous assignments. No clock, no I/O; the scheduler runs it on every change, the console
runs it to say why a job is pending.

Rules, in order:

1. A node is eligible for a job when it is live (its key exists), not drained, and its
   labels satisfy the job's constraints (and carry the ``spread_by`` label, if any).
2. Minimal movement: what a node already runs stays where it is while the node is eligible
   and within ``max_per_node``. Nothing moves just to even things out, so a node that comes
   back gets work only where counts need it (a ``per_node`` job, copies that could not be
   placed, a count raised); the others are left alone.
3. ``per_node = K``: K on every eligible node.
4. ``count = N``: copies missing are added one at a time to the ``spread_by`` group (label
   value) with the fewest copies of the job, then to its node with the fewest copies of
   the job, then the fewest processes of all jobs, then by name; surplus copies leave in
   the mirror order. A fresh job thus spreads evenly.
5. What cannot be placed (no eligible node, every eligible node at ``max_per_node``) is
   reported pending with the reason; what can be placed still is.

The same inputs always give the same result, and the result fed back as ``previous`` gives
itself: the scheduler converges in one step and rewrites nothing after that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ringleader.cluster.jobs import Job

MAX_REASONS = 4  # nodes named in a "why pending" line


@dataclass(frozen=True)
class NodeInfo:
    """A live node as placement sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    drained: bool = False


@dataclass(frozen=True)
class Placement:
    assignments: dict[str, dict[str, int]]  # node -> job -> processes (never 0)
    pending: dict[str, str]  # job -> why it is not (fully) placed

    def count(self, job: str) -> int:
        return sum(jobs.get(job, 0) for jobs in self.assignments.values())


def _ineligible(job: Job, node: NodeInfo) -> str | None:
    return "drained" if node.drained else job.mismatch(dict(node.labels))


def _why_none(job: Job, nodes: Mapping[str, NodeInfo]) -> str:
    if not nodes:
        return "no live node"
    reasons = [f"{name}: {_ineligible(job, nodes[name])}" for name in sorted(nodes)]
    more = len(reasons) - MAX_REASONS
    shown = "; ".join(reasons[:MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")
    return f"no eligible node ({shown})"


class _Load:
    """Copies of one job per node (and per spread group), plus processes of all jobs per
    node: the tie-breakers of rule 4."""

    def __init__(self, job: Job, eligible: list[NodeInfo], current: dict[str, int],
                 totals: Counter[str]) -> None:
        self.cap = job.max_per_node
        self.copies = dict(current)
        self.totals = totals
        label = job.spread_by
        self.group = {n.name: (n.labels.get(label, "") if label else "") for n in eligible}
        self.by_group: Counter[str] = Counter()
        for name, count in current.items():
            self.by_group[self.group[name]] += count

    def _has_room(self, node: str) -> bool:
        return self.cap is None or self.copies.get(node, 0) < self.cap

    def add_one(self) -> bool:
        candidates = [n for n in self.group if self._has_room(n)]
        if not candidates:
            return False
        node = min(candidates, key=lambda n: (self.by_group[self.group[n]], self.group[n],
                                              self.copies.get(n, 0), self.totals[n], n))
        self._move(node, +1)
        return True

    def remove_one(self) -> None:
        holding = [n for n, c in self.copies.items() if c > 0]
        node = max(holding, key=lambda n: (self.by_group[self.group[n]], self.group[n],
                                           self.copies[n], self.totals[n], n))
        self._move(node, -1)

    def _move(self, node: str, delta: int) -> None:
        self.copies[node] = self.copies.get(node, 0) + delta
        self.by_group[self.group[node]] += delta
        self.totals[node] += delta


def place(jobs: Mapping[str, Job], nodes: Mapping[str, NodeInfo],
          previous: Mapping[str, Mapping[str, int]]) -> Placement:
    """The assignments for ``jobs`` over the live ``nodes``, keeping ``previous`` ones
    (node -> job -> count) where still valid. See the module's rules."""
    eligible = {name: [nodes[n] for n in sorted(nodes) if _ineligible(job, nodes[n]) is None]
                for name, job in jobs.items()}
    kept: dict[str, dict[str, int]] = {}
    totals: Counter[str] = Counter()
    for name, job in jobs.items():
        cap = job.max_per_node
        kept[name] = {}
        for info in eligible[name]:
            count = previous.get(info.name, {}).get(name, 0)
            count = min(count, cap) if cap is not None else count
            if count > 0:
                kept[name][info.name] = count
                totals[info.name] += count
    assignments: dict[str, dict[str, int]] = {}
    pending: dict[str, str] = {}
    for name in sorted(jobs):
        job = jobs[name]
        nodes_ok = eligible[name]
        if job.per_node is not None:
            copies = {n.name: job.per_node for n in nodes_ok}
            for node, count in copies.items():
                totals[node] += count - kept[name].get(node, 0)
            if job.per_node and not nodes_ok:
                pending[name] = _why_none(job, nodes)
        else:
            wanted = job.count or 0
            load = _Load(job, nodes_ok, kept[name], totals)
            placed = sum(load.copies.values())
            while placed > wanted:
                load.remove_one()
                placed -= 1
            while placed < wanted and load.add_one():
                placed += 1
            copies = load.copies
            if placed < wanted:
                pending[name] = (_why_none(job, nodes) if not nodes_ok else
                                 f"placed {placed} of {wanted}: every eligible node "
                                 f"({len(nodes_ok)}) is at max_per_node {job.max_per_node}")
        for node, count in copies.items():
            if count > 0:
                assignments.setdefault(node, {})[name] = count
    return Placement(assignments, pending)
