"""What to do when a process dies on its own: respawn (after a delay), park it as
flapping, or give up on it.

Two policies share one protocol; a watcher's config picks one (``make_policy``):
- backoff (the default): respawn at once unless the process keeps dying young, then
  with growing delays; optionally give up after `max_retries` young deaths in a row;
- flapping (circus): respawn at once, but `attempts` deaths within `window` park the
  process for `retry_in`; give up after `max_retry` such rounds.

Pure: one instance per process slot, fed monotonic times by the caller; no clock, no
asyncio, no I/O. Either way a crash loop costs a bounded number of spawns per hour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, final

import msgspec

from ringleader.policy.backoff import RespawnBackoff
from ringleader.policy.flapping import FlapDetector

if TYPE_CHECKING:  # policy stays free of runtime imports from the rest of ringleader
    from ringleader.config.features import BackoffConfig, FlappingConfig

__all__ = ["BackoffPolicy", "Decision", "FlappingPolicy", "RespawnPolicy", "make_policy"]

Action = Literal["respawn", "flapping", "give_up"]


class Decision(msgspec.Struct, frozen=True):
    action: Action
    delay: float  # seconds before the respawn (respawn), or before the retry (flapping)
    reason: str  # for humans: "exited 3 times within 1.0s: retry in 7.0s (round 2 of 5)"


class RespawnPolicy(Protocol):
    def on_exit(self, now: float, uptime: float, exit_code: int | None,
                signal: int | None) -> Decision:
        """A death, unasked for, at monotonic `now` after `uptime` seconds of life."""
        ...

    def on_spawn_failure(self, now: float, what: str = "failed to spawn") -> Decision:
        """The spawn itself failed (bad cmd, cwd, uid...), or the process never became
        ready (`what` says which): counts as a young death whatever its uptime."""
        ...

    def reset(self) -> None:
        """Forget the history: an explicit start revives a flapping or failed process."""
        ...


def make_policy(flapping: FlappingConfig | None, backoff: BackoffConfig) -> RespawnPolicy:
    """The flapping policy when the watcher configures one, else backoff."""
    if flapping is not None:
        return FlappingPolicy(attempts=flapping.attempts, window=flapping.window,
                              retry_in=flapping.retry_in, max_retry=flapping.max_retry)
    return BackoffPolicy(initial=backoff.initial, factor=backoff.factor, maximum=backoff.max,
                         min_uptime=backoff.min_uptime, free_retries=backoff.free_retries,
                         max_retries=backoff.max_retries)


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


@final
class BackoffPolicy:
    """Free retries, then exponential delays; reset by a life of `min_uptime`; given up
    after `max_retries` respawns of a process that keeps dying young (0: never)."""

    __slots__ = ("_backoff", "max_retries")

    def __init__(self, *, initial: float = 0.1, factor: float = 2.0, maximum: float = 30.0,
                 min_uptime: float = 1.0, free_retries: int = 3, max_retries: int = 0) -> None:
        self._backoff = RespawnBackoff(min_uptime=min_uptime, free_retries=free_retries,
                                       initial=initial, factor=factor, maximum=maximum)
        self.max_retries = max_retries

    @property
    def streak(self) -> int:
        """Young deaths (and failed spawns) in a row."""
        return self._backoff.streak

    def on_exit(self, now: float, uptime: float, exit_code: int | None,
                signal: int | None) -> Decision:
        return self._decide(self._backoff.on_exit(uptime), "exited")

    def on_spawn_failure(self, now: float, what: str = "failed to spawn") -> Decision:
        return self._decide(self._backoff.on_spawn_failure(), what)

    def reset(self) -> None:
        self._backoff.reset()

    def _decide(self, delay: float, what: str) -> Decision:
        streak = self._backoff.streak
        if streak == 0:
            return Decision("respawn", 0.0, "respawn at once")
        young = (f"{what}; {_times(streak)} in a row within "
                 f"{self._backoff.min_uptime:g}s of a start")
        # supervisor's startretries: max_retries respawns, then the next young death is
        # final. The streak is kept, so that only reset() (an explicit start) revives it.
        if self.max_retries and streak > self.max_retries:
            return Decision("give_up", 0.0, f"{young}: giving up after {self.max_retries} "
                                            "retries")
        when = "at once" if delay == 0 else f"in {delay:.1f}s"
        return Decision("respawn", delay, f"{young}: respawn {when}")


@final
class FlappingPolicy:
    """circus flapping: see ``policy.flapping.FlapDetector``. Deaths that are not
    flapping respawn at once."""

    __slots__ = ("_detector", "retry_in")

    def __init__(self, *, attempts: int = 2, window: float = 1.0, retry_in: float = 7.0,
                 max_retry: int = 5) -> None:
        self._detector = FlapDetector(attempts=attempts, window=window, max_retry=max_retry)
        self.retry_in = retry_in

    def on_exit(self, now: float, uptime: float, exit_code: int | None,
                signal: int | None) -> Decision:
        return self._decide(now, "exited")

    def on_spawn_failure(self, now: float, what: str = "failed to spawn") -> Decision:
        return self._decide(now, what)

    def reset(self) -> None:
        self._detector.reset()

    def _decide(self, now: float, what: str) -> Decision:
        det = self._detector
        rounds = det.rounds  # before record(): a give-up resets the count
        verdict = det.record(now)
        if verdict == "ok":
            return Decision("respawn", 0.0, "respawn at once")
        burst = f"{what} {_times(det.attempts)} within {det.window:g}s"
        if verdict == "give_up":
            return Decision("give_up", 0.0, f"{burst} after {rounds} flapping rounds: "
                                            "giving up")
        of = f" of {det.max_retry}" if det.max_retry else ""
        return Decision("flapping", self.retry_in,
                        f"{burst}: retry in {self.retry_in:.1f}s (round {det.rounds}{of})")
