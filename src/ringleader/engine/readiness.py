"""Waiting for a watcher's processes to be ready, on its events (never by polling): for
a start to return, and for a reload to know its new processes took over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ringleader.lifecycle.events import Event, ProcessStateChanged
from ringleader.lifecycle.states import ProcessState
from ringleader.lifecycle.views import ProcessView, WatcherView

log = logging.getLogger("ringleader.watcher")
PS = ProcessState
# Slot states in which a process is not about to become ready: it died (and may be
# respawned later), gave up, or was stopped.
_GAVE_UP = frozenset({PS.BACKOFF, PS.EXITED, PS.FAILED, PS.FLAPPING, PS.STOPPED})


async def wait_ready(watcher: WatcherView, procs: Sequence[ProcessView],
                     timeout: float) -> bool:
    """Wait until every process of `procs` is running; False if one gave up (exited,
    failed), the watcher stopped, or `timeout` (0: none) passed."""
    if all(p.state is PS.RUNNING for p in procs):
        return True
    changed = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, ProcessStateChanged) and event.watcher == watcher.name:
            changed.set()

    unsubscribe = watcher.bus.subscribe(on_event)
    try:
        async with asyncio.timeout(timeout or None):
            while True:
                if any(p.state in _GAVE_UP for p in procs) or not watcher.is_active:
                    return False
                if all(p.state is PS.RUNNING for p in procs):
                    return True
                changed.clear()
                await changed.wait()
    except TimeoutError:
        late = [p.name for p in procs if p.state is not PS.RUNNING]
        log.warning("%s: not ready after %gs: %s", watcher.name, timeout, ", ".join(late))
        return False
    finally:
        unsubscribe()


def explain(watcher: WatcherView, procs: Sequence[ProcessView], timeout: float) -> str:
    """Why `procs` are not all ready (after wait_ready said False), in one line."""
    late = [p for p in procs if p.state is not PS.RUNNING]
    gave_up = [p for p in late if p.state in _GAVE_UP]
    shown = gave_up or late
    what = "; ".join(f"{p.name} {p.state.value}" + (f": {p.reason}" if p.reason else "")
                     for p in shown[:3])
    if len(shown) > 3:
        what += f"; and {len(shown) - 3} more"
    when = f" after {timeout:g}s" if timeout and not gave_up else ""
    return (f"watcher {watcher.name!r}: {len(late)} of {len(procs)} process(es) not "
            f"ready{when} ({what}); their respawn policy goes on with them")


async def settled(watcher: WatcherView, procs: Sequence[ProcessView]) -> bool:
    """Processes ready by warm-up alone must also live `backoff.min_uptime` before a
    reload stops their predecessors: a new version that crashes at once is caught.
    (Processes that said they are ready, by sd_notify or a health check, are trusted.)"""
    if watcher.config.readiness != "warmup":
        return True
    settle = watcher.config.backoff.min_uptime - min(p.uptime() for p in procs)
    if settle <= 0:
        return all(p.state is PS.RUNNING for p in procs)
    left = asyncio.Event()

    def on_event(event: Event) -> None:
        if (isinstance(event, ProcessStateChanged) and event.watcher == watcher.name
                and any(p.state is not PS.RUNNING for p in procs)):
            left.set()

    unsubscribe = watcher.bus.subscribe(on_event)
    try:
        async with asyncio.timeout(settle):
            await left.wait()
        return False
    except TimeoutError:
        return True  # all lived long enough
    finally:
        unsubscribe()
