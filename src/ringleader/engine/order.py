"""Starting and stopping several watchers in order: dependencies (`after`, `requires`)
first, then circus priority; one watcher that cannot start does not stop the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from ringleader.config.plan import start_order, stop_order
from ringleader.engine.watcher import Watcher
from ringleader.errors import HookFailed, NotReady

log = logging.getLogger("ringleader.arbiter")

StartFailed = HookFailed | NotReady


async def start_in_order(every: Iterable[Watcher], watchers: Iterable[Watcher], *,
                         raise_refused: bool = False) -> list[StartFailed]:
    """Start `watchers` (of `every` watcher of the arbiter, which decides the order): a
    watcher starts once those it comes `after` are ready (Watcher.start returns when its
    processes are). A watcher that fails to start (hook refused, not ready) does not stop
    the others: the failures are returned, in start order. With `raise_refused`, a
    refusing hook raises HookFailed once its group is done (no later group starts)."""
    chosen = {w.name: w for w in watchers}
    for w in chosen.values():  # meant to run from now on, before their turn comes
        w.desired = True
    failed: list[StartFailed] = []
    for group in start_order([w.config for w in every]):
        results = await asyncio.gather(*(chosen[n].start() for n in group if n in chosen),
                                       return_exceptions=True)
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


async def stop_in_order(every: Iterable[Watcher], watchers: Iterable[Watcher]) -> None:
    chosen = {w.name: w for w in watchers}
    for group in stop_order([w.config for w in every]):
        await asyncio.gather(*(chosen[n].stop() for n in group if n in chosen))
