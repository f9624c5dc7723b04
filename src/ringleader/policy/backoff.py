"""When to respawn a process that died: at once, unless it keeps dying young.

Pure: the caller passes monotonic times; no clock, no I/O. One instance per process
slot. A death after `min_uptime` resets the streak, so a long-lived worker that is
killed comes back immediately; a process that dies young `free_retries` times in a row
waits `initial`, then `factor` times longer each time, up to `maximum`. A crash loop
thus costs the controller a spawn every `maximum` seconds, never a hot loop.

This is the delay arithmetic; ``policy.respawn.BackoffPolicy`` wraps it into the
respawn protocol (decisions with reasons, and giving up after `max_retries`).
"""

from __future__ import annotations

import msgspec


class RespawnBackoff(msgspec.Struct):
    min_uptime: float = 1.0
    free_retries: int = 3
    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 30.0
    streak: int = 0  # consecutive young deaths (or failed spawns)

    def on_exit(self, uptime: float) -> float:
        """Record a death after `uptime` seconds; return the delay before respawning."""
        if uptime >= self.min_uptime:
            self.streak = 0
            return 0.0
        return self._young_death()

    def on_spawn_failure(self) -> float:
        return self._young_death()

    def reset(self) -> None:
        self.streak = 0

    def _young_death(self) -> float:
        self.streak += 1
        excess = self.streak - self.free_retries
        if excess <= 0:
            return 0.0
        try:
            return float(min(self.maximum, self.initial * self.factor ** (excess - 1)))
        except OverflowError:
            # factor ** n outgrows a float after ~1000 young deaths (8 hours of a crash
            # loop at 30 s): the delay has long been at its maximum.
            return self.maximum if self.initial > 0 else 0.0
