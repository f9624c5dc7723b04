"""Feeds a watcher's memory and CPU samples to its ``policy.watchdog.ResourceWatchdog``
and restarts the processes it names. One driver per watcher with a `watchdog` table; the
Arbiter starts it after the watcher and stops it before the watcher.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import final

from ringleader.features.drivers.base import PeriodicDriver, watcher_samples
from ringleader.features.stats import StatsSampler
from ringleader.lifecycle.events import WatcherChanged
from ringleader.lifecycle.views import WatcherView
from ringleader.policy.watchdog import ResourceWatchdog

__all__ = ["ResourceWatchdogDriver"]

log = logging.getLogger("ringleader.watchdog")


@final
class ResourceWatchdogDriver(PeriodicDriver):
    """Every `watchdog.interval` seconds: sample, restart the processes over a limit for
    `checks` checks in a row (one at a time, so that the others keep serving)."""

    __slots__ = ("_policy",)
    kind = "watchdog"

    def __init__(self, watcher: WatcherView, sampler: StatsSampler,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(watcher, sampler, clock)
        self._policy: ResourceWatchdog | None = None

    def interval(self) -> float:
        config = self.watcher.config.watchdog
        return config.interval if config is not None else 1.0

    async def tick(self) -> None:
        """One round: sample the watcher's processes, restart those over a limit."""
        watcher = self.watcher
        config = watcher.config.watchdog
        if config is None or not watcher.is_active:
            self._policy = None
            return
        if watcher.is_busy:
            return  # processes in flux (a reload replacing them): skip this round
        if self._policy is None or self._policy.config != config:
            self._policy = ResourceWatchdog(config)
        policy = self._policy
        stats = await self._sampler.collect([watcher])
        samples = watcher_samples(stats, watcher.name)
        policy.retain({(p["wid"], p["pid"]) for p in samples})
        due = [(p["wid"], p["pid"], reason) for p in samples
               if (reason := policy.check((p["wid"], p["pid"]), p["rss"], p["cpu_percent"]))]
        for wid, pid, reason in due:
            proc = watcher.processes.get(wid)
            if proc is None or proc.pid != pid or not proc.is_alive:
                continue  # died or replaced since the sample
            detail = f"{watcher.name}.{wid} pid {pid}: {reason}"
            log.warning("watchdog: restarting %s", detail)
            await watcher.restart_process(wid, f"watchdog: {reason}")
            watcher.bus.publish(WatcherChanged(
                watcher=watcher.name, action="watchdog", detail=detail))
