"""Auto-scaling: grow a watcher whose processes all stay busy, shrink one whose processes
all stay idle.

Pure: fed monotonic times and CPU samples by the caller (``features.drivers.autoscale``);
no clock, no asyncio, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:  # policy stays free of runtime imports from the rest of ringleader
    from ringleader.config.features import AutoscaleConfig

__all__ = ["Autoscaler", "ScaleDecision"]


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    target: int
    reason: str  # "all 2 processes at or above 80% CPU for 10.0s: 2 -> 3"


@final
class Autoscaler:
    """Decides from CPU samples taken every few seconds. A process is busy at or above
    `grow_above` percent of one core and idle below `shrink_below`; a state counts only
    when every process is in it and it held from one sample to the next (a single sample
    to the contrary restarts the clock). Decisions stay within min..max, at least
    `cooldown` apart."""

    __slots__ = ("_busy_since", "_config", "_current", "_idle_since", "_last_decision")

    def __init__(self, config: AutoscaleConfig) -> None:
        self._config = config
        self._busy_since: float | None = None
        self._idle_since: float | None = None
        self._last_decision: float | None = None
        self._current: int | None = None

    @property
    def config(self) -> AutoscaleConfig:
        return self._config

    def decide(self, now: float, current: int, cpu: Sequence[float]) -> ScaleDecision | None:
        """`current`: the watcher's process count; `cpu`: CPU % of each live process."""
        c = self._config
        if current != self._current:
            # Changed under us (an operator's incr/decr, or our own decision being
            # carried out): what was measured was another set of processes.
            self._busy_since = self._idle_since = None
            self._current = current
        # Busy needs every slot measured: a slot without a live process (in backoff,
        # say) is no proof of load, and growing a crash-looping watcher helps nobody.
        busy = len(cpu) >= max(current, 1) and all(x >= c.grow_above for x in cpu)
        idle = bool(cpu) and all(x < c.shrink_below for x in cpu)
        if busy:
            self._busy_since = now if self._busy_since is None else self._busy_since
        else:
            self._busy_since = None
        if idle:
            self._idle_since = now if self._idle_since is None else self._idle_since
        else:
            self._idle_since = None
        if self._last_decision is not None and now - self._last_decision < c.cooldown:
            return None
        if self._busy_since is not None and now - self._busy_since >= c.grow_after:
            target = _clamp(current + c.step, c)
            held, what = now - self._busy_since, f"at or above {c.grow_above:g}% CPU"
            if target <= current:
                return None  # at max (or above it, set by hand)
        elif self._idle_since is not None and now - self._idle_since >= c.shrink_after:
            target = _clamp(current - c.step, c)
            held, what = now - self._idle_since, f"below {c.shrink_below:g}% CPU"
            if target >= current:
                return None  # at min (or under it, set by hand)
        else:
            return None
        self._last_decision = now
        self._busy_since = self._idle_since = None
        self._current = target
        n = len(cpu)
        procs = f"all {n} processes" if n > 1 else "the process"
        return ScaleDecision(target, f"{procs} {what} for {held:.1f}s: {current} -> {target}")

    def reset(self) -> None:
        """Forget the timers and the cooldown (the watcher was stopped or restarted)."""
        self._busy_since = self._idle_since = self._last_decision = self._current = None


def _clamp(n: int, c: AutoscaleConfig) -> int:
    # min > max is not refused by the config model: max wins, never more processes.
    return min(max(n, c.min), c.max)
