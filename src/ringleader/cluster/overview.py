"""What ``cluster status`` shows: jobs x nodes, desired (etcd's assignments) against actual
(each node's own API), node health, labels and lease age. Pure: built from a snapshot and
the nodes' ``/v1/status`` answers (or why a node gave none), so it is unit-tested alone.

Health of a node: ``healthy``; ``draining`` (drained: its cluster work moves elsewhere);
``disconnected`` (its API answers but its agent has lost etcd: it keeps what it runs);
``unreachable`` (its API did not answer in time, or refused the console); ``no-api`` (it
advertises no API address, so only etcd's view of it is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ringleader.cluster.snapshot import ClusterSnapshot


@dataclass(frozen=True)
class NodeView:
    name: str
    health: str
    detail: str  # why it is not healthy, or what it is doing
    api: str | None
    labels: dict[str, str]
    version: str
    started: float  # wall clock of its agent's start
    lease_age: float | None  # seconds since it registered on its current lease
    scheduler: bool  # it is the elected scheduler


@dataclass(frozen=True)
class JobCell:
    """One job on one node."""

    desired: int  # assigned here by the scheduler
    running: int | None  # its processes running here (None: the node did not answer)
    state: str | None = None  # its local watcher's state
    problem: str | None = None  # why it does not run here as assigned


@dataclass(frozen=True)
class JobView:
    name: str
    placement: str  # "count=6", "per_node=1", with constraints and spread_by
    desired: int  # the processes asked for in all (count, or per_node x eligible nodes)
    assigned: int  # the processes the scheduler assigned
    running: int  # the processes running, on the nodes that answered
    pending: str | None  # why not all are assigned
    nodes: dict[str, JobCell] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.pending is None and self.desired == self.assigned == self.running


@dataclass(frozen=True)
class Overview:
    prefix: str
    revision: int
    scheduler: str | None
    nodes: list[NodeView]
    jobs: list[JobView]
    failed: dict[str, str]  # node -> why its API gave no answer
    problems: list[str]  # keys under the prefix that could not be read

    @property
    def degraded(self) -> bool:
        """A job is not fully placed and running, or a node is not healthy."""
        return (any(not j.complete for j in self.jobs)
                or any(n.health not in ("healthy", "draining") for n in self.nodes))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for job, view in zip(data["jobs"], self.jobs, strict=True):
            job["complete"] = view.complete
        data["degraded"] = self.degraded
        return data


def placement_text(job: Any) -> str:
    parts = [f"count={job.count}" if job.per_node is None else f"per_node={job.per_node}"]
    if job.max_per_node is not None:
        parts.append(f"max_per_node={job.max_per_node}")
    if job.spread_by:
        parts.append(f"spread_by={job.spread_by}")
    for label, values in job.constraints.items():
        parts.append(f"{label}={'|'.join(values)}")
    if job.stop_after_disconnect is not None:
        parts.append(f"stop_after_disconnect={job.stop_after_disconnect:g}s")
    return " ".join(parts)


def _node_view(name: str, snapshot: ClusterSnapshot, answer: Mapping[str, Any] | None,
               failure: str | None, now: float) -> NodeView:
    record = snapshot.nodes[name]
    cluster = (answer or {}).get("cluster") or {}
    drain = snapshot.drains.get(name)
    if failure is not None:
        health, detail = ("no-api", failure) if record.api is None else ("unreachable",
                                                                          failure)
    elif cluster and not cluster.get("connected", True):
        health = "disconnected"
        detail = f"cut off from etcd: {cluster.get('last_error') or 'no answer'}"
    elif drain is not None:
        health, detail = "draining", drain.reason or "drained"
    else:
        health, detail = "healthy", ""
    if drain is not None and health != "draining":
        detail = f"drained; {detail}"
    return NodeView(name=name, health=health, detail=detail, api=record.api,
                    labels=dict(record.labels), version=record.version,
                    started=record.started,
                    lease_age=round(now - record.registered, 1) if record.registered else None,
                    scheduler=snapshot.scheduler is not None and
                    snapshot.scheduler.node == name)


def overview(snapshot: ClusterSnapshot, prefix: str, answers: Mapping[str, Any],
             failed: Mapping[str, str], now: float) -> Overview:
    """``answers``: node -> its ``/v1/status`` answer; ``failed``: node -> why none."""
    placement = snapshot.placement()
    nodes = [_node_view(name, snapshot, answers.get(name), failed.get(name), now)
             for name in sorted(snapshot.nodes)]
    watchers: dict[str, dict[str, Mapping[str, Any]]] = {}  # node -> job -> its watcher
    for node, answer in answers.items():
        watchers[node] = {w["job"]: w for w in answer.get("watchers", []) if w.get("job")}
    jobs: list[JobView] = []
    for name in sorted(set(snapshot.jobs) | set(snapshot.bad_jobs)):
        stored = snapshot.jobs.get(name)
        cells: dict[str, JobCell] = {}
        holders = {n for n, a in snapshot.assignments.items() if a.get(name)}
        holders |= {n for n, w in watchers.items() if name in w}
        for node in sorted(holders):
            assignment = snapshot.assignments.get(node, {}).get(name)
            watcher = watchers.get(node, {}).get(name)
            info = ((answers.get(node) or {}).get("cluster") or {}).get("jobs", {}).get(name)
            problem = info.get("problem") if info else None
            if info and info.get("cut_off"):
                problem = "stopped here: cut off from etcd (stop_after_disconnect)"
            running = (int(watcher["running"]) if watcher else 0) if node in answers \
                else None
            cells[node] = JobCell(desired=assignment.count if assignment else 0,
                                  running=running,
                                  state=watcher["state"] if watcher else None,
                                  problem=problem)
        assigned = sum(c.desired for c in cells.values())
        running_total = sum(c.running or 0 for c in cells.values())
        if stored is None:
            jobs.append(JobView(name, "?", 0, assigned, running_total,
                                f"stored definition unusable: {snapshot.bad_jobs[name]}",
                                cells))
            continue
        job = stored.job
        desired = job.count if job.count is not None else placement.count(name)
        jobs.append(JobView(name, placement_text(job), desired or 0, assigned, running_total,
                            placement.pending.get(name), cells))
    return Overview(prefix=prefix, revision=snapshot.revision,
                    scheduler=snapshot.scheduler.node if snapshot.scheduler else None,
                    nodes=nodes, jobs=jobs, failed=dict(failed),
                    problems=[f"{key.decode(errors='replace')}: {why}"
                              for key, why in sorted(snapshot.problems.items())])
