"""``reloadconfig`` carried out: a ``ReloadPlan`` (config.diff) applied to the running
watchers. Removed watchers stop, changed ones are replaced by a zero-downtime reload (a
stopped one takes its new definition for its next start), those where only
numprocesses changed are scaled in place, new ones are added; the others, and their
pids, are left alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from ringleader.config.model import WatcherConfig
from ringleader.config.plan import ReloadPlan
from ringleader.engine.watcher import Watcher


async def carry_out(plan: ReloadPlan, watchers: Mapping[str, Watcher], *,
                    remove: Callable[[str], Awaitable[None]],
                    add: Callable[[WatcherConfig], Watcher]) -> list[Watcher]:
    """Apply `plan` to `watchers` (by name) with the arbiter's `remove` and `add`;
    returns the added watchers, for the caller to start in dependency order."""
    for name in plan.removed:
        await remove(name)
    # The one path of every config change (hooks, cgroup, policies rebuilt): an active
    # watcher is replaced like `reload`, new processes first; a stopped one takes the new
    # definition for its next start; a rescaled one keeps its processes.
    for cfg in (*plan.changed, *plan.rescaled):
        await watchers[cfg.name].apply_config(cfg)
    return [add(cfg) for cfg in plan.added]
