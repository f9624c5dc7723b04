"""Plans the engine carries out, computed purely from configs: the start and stop order of
watchers (dependencies ``after``/``requires``, then circus priority) and the reload diff
between two configurations (a ``ReloadPlan``).

The order takes anything with ``name``, ``after``, ``requires`` and ``priority``
(``WatcherConfig`` does), so the engine and the loader share one definition of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec

from ringleader.config.model import WatcherConfig

__all__ = ["DependencyCycle", "HasDeps", "ReloadPlan", "find_cycle", "plan_reload", "start_order",
           "stop_order"]


class HasDeps(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def after(self) -> list[str]: ...

    @property
    def requires(self) -> list[str]: ...

    @property
    def priority(self) -> int: ...


class DependencyCycle(ValueError):
    """The watchers depend on each other in a circle; ``cycle`` is e.g. [a, b, a]."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(cycle))


def _graph(watchers: Sequence[HasDeps]) -> dict[str, list[str]]:
    """name -> the names it depends on (known ones only, each once, in the order given)."""
    names = {w.name for w in watchers}
    return {w.name: [d for d in dict.fromkeys([*w.after, *w.requires]) if d in names]
            for w in watchers}


def find_cycle(watchers: Sequence[HasDeps]) -> list[str] | None:
    """The first dependency cycle found, closed (``["web", "api", "web"]``: web depends on
    api, which depends on web); None when there is none. Deterministic: watchers are visited
    in the order given, dependencies in the order listed (after, then requires). Names of
    unknown watchers are ignored (the loader reports them)."""
    graph = _graph(watchers)
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(graph[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(graph[nxt]))
    return None


def start_order(watchers: Sequence[HasDeps],
                group_priority: Mapping[str, int] | None = None) -> list[list[str]]:
    """Groups of watcher names, in start order; the watchers of one group can start
    together. A watcher comes after everything it depends on (after + requires). Among
    watchers whose dependencies are met, the highest priority goes first (circus: higher
    starts first); a watcher lends its priority to what it depends on, so that a
    high-priority watcher is not held back by a low-priority dependency. Within a group,
    names keep the order given. *group_priority*: watcher name -> the priority of its
    group, which orders before the watcher's own (supervisord: a program outside a group is
    a group of its own, of its priority). Raises ``DependencyCycle``."""
    cycle = find_cycle(watchers)
    if cycle is not None:
        raise DependencyCycle(cycle)
    graph = _graph(watchers)
    order = {w.name: i for i, w in enumerate(watchers)}
    of_group = group_priority or {}
    effective = {w.name: (of_group.get(w.name, w.priority), w.priority) for w in watchers}
    # every watcher's priority flows down to its dependencies, transitively (no cycle here)
    for name in _topological(graph):  # dependents before their dependencies
        for dep in graph[name]:
            effective[dep] = max(effective[dep], effective[name])
    waiting = {name: set(deps) for name, deps in graph.items()}
    groups: list[list[str]] = []
    while waiting:
        ready = [n for n, deps in waiting.items() if not deps]
        top = max(effective[n] for n in ready)
        group = sorted((n for n in ready if effective[n] == top), key=order.__getitem__)
        groups.append(group)
        for name in group:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(group)
    return groups


def stop_order(watchers: Sequence[HasDeps],
               group_priority: Mapping[str, int] | None = None) -> list[list[str]]:
    """The reverse of ``start_order``: dependents stop before what they depend on."""
    return start_order(watchers, group_priority)[::-1]


def _topological(graph: dict[str, list[str]]) -> list[str]:
    """Names with every dependent before its dependencies (graph must be acyclic)."""
    seen: set[str] = set()
    post: list[str] = []

    def visit(name: str) -> None:
        stack = [(name, iter(graph[name]))]
        seen.add(name)
        while stack:
            node, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                post.append(node)
            elif dep not in seen:
                seen.add(dep)
                stack.append((dep, iter(graph[dep])))

    for name in graph:
        if name not in seen:
            visit(name)
    return post[::-1]  # post-order lists dependencies first; reversed: dependents first


# -- the reload diff ----------------------------------------------------------------------

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
