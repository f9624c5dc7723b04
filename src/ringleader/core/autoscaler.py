"""Feeds a watcher's CPU samples to its ``policy.scaling.Autoscaler`` and carries out the
decisions. One driver per watcher with an `autoscale` table; the Arbiter starts it after
the watcher and stops it before the watcher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, final

from ringleader.core.stats import StatsSampler
from ringleader.core.watcher import Watcher
from ringleader.lifecycle.events import WatcherChanged
from ringleader.policy.scaling import Autoscaler

__all__ = ["AutoscaleDriver"]

log = logging.getLogger("ringleader.autoscale")


def watcher_samples(stats: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The per-process dicts of watcher `name` in a ``StatsSampler.collect`` result."""
    for w in stats["watchers"]:
        if w["name"] == name:
            processes: list[dict[str, Any]] = w["processes"]
            return processes
    return []


class PeriodicDriver:
    """A task that runs ``tick()`` every ``interval()`` seconds for one watcher, until
    ``await stop()``, which lets a tick in progress finish (a half-done scale or restart
    would leave a slot stopped). ``start()`` is idempotent. A failing tick is logged and
    the next one runs: a driver never takes the controller down.
    (Shared with ``core.resource_watchdog``.)"""

    __slots__ = ("_clock", "_sampler", "_stopping", "_task", "watcher")
    kind: ClassVar[str] = "driver"  # for logs and the task name

    def __init__(self, watcher: Watcher, sampler: StatsSampler,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.watcher = watcher
        self._sampler = sampler
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"{self.kind} {self.watcher.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()  # wakes the wait between ticks
        await task

    def interval(self) -> float:
        raise NotImplementedError

    async def tick(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            try:
                # Re-read each round: `set` may change the interval.
                async with asyncio.timeout(self.interval()):
                    await self._stopping.wait()
                return
            except TimeoutError:
                pass
            try:
                await self.tick()
            except Exception:
                # psutil trouble, a refused scale...: the next round tries again.
                log.exception("%s %s: round failed", self.kind, self.watcher.name)


@final
class AutoscaleDriver(PeriodicDriver):
    """Every `autoscale.interval` seconds: sample, decide, scale."""

    __slots__ = ("_policy",)
    kind = "autoscale"

    def __init__(self, watcher: Watcher, sampler: StatsSampler,
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
        if watcher.lock.locked():
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
        # TODO(lead): a public accessor for the watcher's bus.
        watcher._services.bus.publish(WatcherChanged(
            watcher=watcher.name, action="autoscale", detail=decision.reason))
