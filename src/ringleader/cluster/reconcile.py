"""What to change locally so that the owned watchers match this node's assignments: pure.

The agent computes the desired watchers (a job's ``WatcherConfig`` with the assigned
count) and compares them with what the arbiter runs for the cluster; the plan lists the
smallest set of arbiter calls, in a safe order: removals first (they free processes and
names), then updates, then additions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ringleader.cluster.arbiter_port import OwnedWatcher
from ringleader.config.model import WatcherConfig


@dataclass(frozen=True)
class Action:
    kind: Literal["remove", "update", "add"]
    name: str
    job: str
    config: WatcherConfig | None = None  # for update and add

    def describe(self) -> str:
        count = self.config.numprocesses if self.config is not None else 0
        return {"remove": f"remove {self.name}", "update": f"update {self.name} ({count})",
                "add": f"add {self.name} ({count})"}[self.kind]


def plan(desired: Mapping[str, WatcherConfig], owned: Mapping[str, OwnedWatcher]
         ) -> list[Action]:
    """``desired``: job -> the watcher it should run here (named after the job, with its
    count); ``owned``: what runs now. Jobs not in ``desired`` are left as they are only if
    absent from ``owned``."""
    by_job = {w.job: (name, w) for name, w in owned.items()}
    removals = [Action("remove", name, w.job) for name, w in sorted(owned.items())
                if w.job not in desired]
    updates: list[Action] = []
    additions: list[Action] = []
    for job in sorted(desired):
        config = desired[job]
        current = by_job.get(job)
        if current is None:
            additions.append(Action("add", config.name, job, config))
        elif current[1].config != config:
            updates.append(Action("update", current[0], job, config))
    return removals + updates + additions
