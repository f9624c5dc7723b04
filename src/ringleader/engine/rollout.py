"""Zero-downtime replacement of a watcher's processes (``reload``, and a config change
that running processes cannot pick up: what is not in ``LIVE_OPTIONS``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ringleader.engine import readiness
from ringleader.engine.process import Process
from ringleader.engine.services import Services
from ringleader.errors import ReloadFailed

if TYPE_CHECKING:
    from ringleader.engine.watcher import Watcher

# Options that running processes pick up without being replaced (they are read from
# the watcher's config when used). Any other change replaces the processes.
LIVE_OPTIONS = frozenset({
    "numprocesses", "autostart", "respawn", "warmup_delay", "priority", "stop_signal",
    "graceful_timeout", "stop_children", "max_age", "max_age_variance",
    # features the watcher carries itself: rebuilt or re-applied in place
    "flapping", "backoff", "autoscale", "watchdog", "health", "hooks", "cgroup",
    "readiness", "ready_timeout", "watchdog_sec", "after", "requires", "reload_batch",
    # read when a process exits, stops or is named
    "exit_codes", "start_secs", "start_retries", "kill_children", "process_name", "send_hup",
    "on_demand", "extra", "buffer_size",
})


async def replace_processes(watcher: Watcher, services: Services) -> None:
    """Zero-downtime replacement, `reload_batch` slots at a time: start the new
    process, wait until it is ready, then stop the old one gracefully. There are never
    fewer ready processes than before. If a batch does not become ready, its new
    processes are stopped and the old ones keep serving (ReloadFailed)."""
    if not watcher.is_active:
        return
    wids = sorted(w for w in watcher.processes if w <= watcher.numprocesses)
    batch = watcher.config.reload_batch
    for i in range(0, len(wids), batch):
        olds = [watcher.processes[w] for w in wids[i:i + batch]]
        news = []
        for old in olds:
            old.retired = True
            watcher.retiring.append(old)
            new = watcher.processes[old.wid] = Process(watcher, old.wid, services)
            new.start()
            news.append(new)
        if not await watcher.wait_ready(news) or not await readiness.settled(watcher, news):
            await _roll_back(watcher, olds, news)
            raise ReloadFailed(f"watcher {watcher.name!r}: new processes were not ready; "
                               "the old ones keep running")
        await asyncio.gather(*(old.stop("replaced by reload") for old in olds))
        for old in olds:
            watcher.retiring.remove(old)


async def _roll_back(watcher: Watcher, olds: list[Process], news: list[Process]) -> None:
    for new in news:
        new.retired = True
    await asyncio.gather(*(new.stop("reload rolled back") for new in news))
    for old in olds:
        watcher.retiring.remove(old)
        old.retired = False
        watcher.processes[old.wid] = old
        if not old.is_alive and watcher.wants(old.wid):
            old.start()
