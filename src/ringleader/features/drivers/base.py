"""What the periodic drivers of a watcher share: a task ticking every interval, and the
samples of the watcher's processes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from ringleader.features.stats import StatsSampler
from ringleader.lifecycle.views import WatcherView


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
    """

    __slots__ = ("_clock", "_sampler", "_stopping", "_task", "watcher")
    kind: ClassVar[str] = "driver"  # for logs and the task name

    def __init__(self, watcher: WatcherView, sampler: StatsSampler,
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
                logging.getLogger(f"ringleader.{self.kind}").exception(
                    "%s %s: round failed", self.kind, self.watcher.name)
