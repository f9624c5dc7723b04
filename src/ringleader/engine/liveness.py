"""The timers that watch one live process for its slot: sd_notify's watchdog (WATCHDOG=1
again within ``watchdog_sec``, else it is taken for hung, as systemd does) and ``max_age``
(recycled once that old, give or take ``max_age_variance``). Each calls the slot back with
the pid it was armed for, so that a timer outliving its process is ignored there."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from ringleader.config.model import WatcherConfig


class Liveness:
    __slots__ = ("_loop", "_on_hung", "_on_old", "_watchdog")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, on_hung: Callable[[int], None],
                 on_old: Callable[[int], None]) -> None:
        self._loop = loop
        self._on_hung = on_hung
        self._on_old = on_old
        self._watchdog: asyncio.TimerHandle | None = None

    def arm(self, cfg: WatcherConfig, pid: int) -> None:
        """A process was just spawned."""
        if cfg.watchdog_sec > 0:
            self.feed(cfg.watchdog_sec, pid)
        if cfg.max_age > 0:
            age = cfg.max_age + random.uniform(0, cfg.max_age_variance)
            self._loop.call_later(age, self._on_old, pid)

    def feed(self, timeout: float, pid: int) -> None:
        """WATCHDOG=1: hung unless it says so again within `timeout` (0: not watched)."""
        self.cancel()
        if timeout > 0:
            self._watchdog = self._loop.call_later(timeout, self._fire, pid)

    def cancel(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _fire(self, pid: int) -> None:
        self._watchdog = None
        self._on_hung(pid)
