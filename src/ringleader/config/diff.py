"""Compare two configurations into a ReloadPlan (pure; the arbiter carries it out)."""

from __future__ import annotations

import msgspec

from ringleader.config.model import WatcherConfig


class ReloadPlan(msgspec.Struct, frozen=True, kw_only=True):
    added: tuple[WatcherConfig, ...] = ()
    removed: tuple[str, ...] = ()
    # Watchers whose options changed: their processes are replaced.
    changed: tuple[WatcherConfig, ...] = ()
    # Watchers where only numprocesses changed: scaled in place, processes kept.
    rescaled: tuple[WatcherConfig, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.rescaled)


def plan_reload(old: list[WatcherConfig], new: list[WatcherConfig]) -> ReloadPlan:
    before = {w.name: w for w in old}
    after = {w.name: w for w in new}
    added = tuple(w for name, w in after.items() if name not in before)
    removed = tuple(name for name in before if name not in after)
    changed: list[WatcherConfig] = []
    rescaled: list[WatcherConfig] = []
    for name, w in after.items():
        prev = before.get(name)
        if prev is None or prev == w:
            continue
        if msgspec.structs.replace(prev, numprocesses=w.numprocesses) == w:
            rescaled.append(w)
        else:
            changed.append(w)
    return ReloadPlan(added=added, removed=removed, changed=tuple(changed),
                      rescaled=tuple(rescaled))
