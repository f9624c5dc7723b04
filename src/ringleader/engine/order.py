"""Starting and stopping several watchers in order: dependencies (`after`, `requires`)
first, then priority - its group's (``[groups.NAME]``, supervisord's ``[group:x]``) before
the watcher's own; circus's ``[circus] warmup_delay`` spaces two watchers' starts. One
watcher that cannot start does not stop the others. The order itself is ``config.plan``
(pure); this carries it out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from ringleader.config.model import GroupConfig
from ringleader.config.plan import start_order, stop_order
from ringleader.engine.watcher import Watcher
from ringleader.errors import HookFailed, NotReady
from ringleader.lifecycle.events import Event, ProcessStateChanged, WatcherChanged

log = logging.getLogger("ringleader.arbiter")

StartFailed = HookFailed | NotReady


def assign_groups(watchers: Iterable[Watcher], groups: Sequence[GroupConfig]) -> None:
    """Each watcher learns its group (status, selectors, supervisord's groupname)."""
    member = {name: g.name for g in groups for name in g.watchers}
    for watcher in watchers:
        watcher.group = member.get(watcher.name)


def _group_priority(groups: Sequence[GroupConfig]) -> dict[str, int]:
    return {name: g.priority for g in groups for name in g.watchers}


def start_levels(every: Iterable[Watcher],
                 groups: Sequence[GroupConfig] = ()) -> list[list[str]]:
    """The names of `every` watcher, level by level of the start order."""
    return start_order([w.config for w in every], _group_priority(groups))


async def start_in_order(every: Iterable[Watcher], watchers: Iterable[Watcher], *,
                         raise_refused: bool = False, groups: Sequence[GroupConfig] = (),
                         warmup_delay: float = 0.0) -> list[StartFailed]:
    """Start `watchers` (of `every` watcher of the arbiter, which decides the order): a
    watcher starts once those it comes `after` are ready (Watcher.start returns when its
    processes are); a level together, or with `warmup_delay` one at a time, that far
    apart (circus). A watcher that fails to start (hook refused, not ready) does not stop
    the others: the failures are returned, in start order. With `raise_refused`, a
    refusing hook raises HookFailed once its level is done (no later level starts)."""
    chosen = {w.name: w for w in watchers}
    for w in chosen.values():  # meant to run from now on, before their turn comes
        w.desired = True
    failed: list[StartFailed] = []
    first = True
    for level in start_levels(every, groups):
        starting = [chosen[n] for n in level if n in chosen]
        results: list[BaseException | None] = []
        if warmup_delay <= 0:
            results = await asyncio.gather(*(w.start() for w in starting),
                                           return_exceptions=True)
        else:
            for watcher in starting:
                if not first:
                    await asyncio.sleep(warmup_delay)
                first = False
                results += await asyncio.gather(watcher.start(), return_exceptions=True)
        for result in results:
            if isinstance(result, HookFailed | NotReady):
                failed.append(result)
            elif isinstance(result, BaseException):
                raise result
        refused = [f for f in failed if isinstance(f, HookFailed)]
        if raise_refused and refused:
            raise refused[0]
    return failed


def raise_failed(failed: list[StartFailed]) -> None:
    """For a client: the failures as one error (of the first one's kind)."""
    if failed:
        raise type(failed[0])("; ".join(str(f) for f in failed))


def log_failed(failed: list[StartFailed]) -> None:
    """At the controller's start or a reloadconfig: the failures are the log's."""
    for exc in failed:
        if isinstance(exc, HookFailed):
            log.error("%s: the watcher is skipped (it stays stopped)", exc)
        else:
            log.error("%s", exc)


async def stop_in_order(every: Iterable[Watcher], watchers: Iterable[Watcher], *,
                        groups: Sequence[GroupConfig] = ()) -> None:
    chosen = {w.name: w for w in watchers}
    for level in stop_order([w.config for w in every], _group_priority(groups)):
        await asyncio.gather(*(chosen[n].stop() for n in level if n in chosen))


def requiring(event: Event, every: Iterable[Watcher]) -> list[Watcher]:
    """`requires`: when a watcher fails or is stopped, the active ones requiring it, to
    stop too."""
    failed = isinstance(event, ProcessStateChanged) and event.new == "failed"
    stopped = isinstance(event, WatcherChanged) and event.action == "stopping"
    if not (failed or stopped):
        return []
    name = event.watcher  # type: ignore[attr-defined]
    hit = [w for w in every if name in w.config.requires and w.is_active]
    for w in hit:
        log.warning("stopping watcher %s: it requires %s, which %s", w.name, name,
                    "failed" if failed else "is stopping")
    return hit
