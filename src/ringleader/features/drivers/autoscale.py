"""Feeds a watcher's CPU samples to its ``policy.scaling.Autoscaler`` and carries out the
decisions. One driver per watcher with an `autoscale` table; the Arbiter starts it after
the watcher and stops it before the watcher.
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
from ringleader.policy.scaling import Autoscaler

__all__ = ["AutoscaleDriver"]

log = logging.getLogger("ringleader.autoscale")


@final
class AutoscaleDriver(PeriodicDriver):
    """Every `autoscale.interval` seconds: sample, decide, scale."""

    __slots__ = ("_policy",)
    kind = "autoscale"

    def __init__(self, watcher: WatcherView, sampler: StatsSampler,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(watcher, sampler, clock)
        self._policy: Autoscaler | None = None

    def interval(self) -> float:
        config = self.watcher.config.autoscale
        return config.interval if config is not None else 1.0

    async def tick(self) -> None:
        """One round: sample the watcher's processes, scale if the policy says so."""
        watcher = self.watcher
        config = watcher.config.autoscale
        if config is None or not watcher.is_active:
            if self._policy is not None:
                self._policy.reset()  # a restarted watcher starts afresh
            return
        if watcher.is_busy:
            return  # processes in flux (reload, an operator's scale): skip this round
        if self._policy is None or self._policy.config != config:
            self._policy = Autoscaler(config)
        stats = await self._sampler.collect([watcher])
        cpu = [p["cpu_percent"] for p in watcher_samples(stats, watcher.name)]
        decision = self._policy.decide(self._clock(), watcher.numprocesses, cpu)
        if decision is None:
            return
        log.info("autoscale %s: %s", watcher.name, decision.reason)
        await watcher.set_numprocesses(decision.target)
        watcher.bus.publish(WatcherChanged(
            watcher=watcher.name, action="autoscale", detail=decision.reason))
