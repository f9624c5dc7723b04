"""Flapping detection with circus semantics: `attempts` deaths within `window` seconds
make a flapping round (the process is parked for `retry_in`); after `max_retry` rounds
the next detection gives up (0: never). Attempts that spread wider than the window
reset the round count, as circus does.

One deliberate difference: circus checks the deaths in batches of `attempts` (it
clears its timeline whenever a batch is too slow), so a burst straddling two batches
goes unseen; here the window slides over the last `attempts` deaths.

Pure: the caller passes monotonic times; no clock, no I/O.
"""

from __future__ import annotations

import collections
from typing import Literal

Verdict = Literal["ok", "flapping", "give_up"]


class FlapDetector:
    __slots__ = ("_deaths", "attempts", "max_retry", "rounds", "window")

    def __init__(self, attempts: int = 2, window: float = 1.0, max_retry: int = 5) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.window = window
        self.max_retry = max_retry
        self.rounds = 0  # flapping rounds since the process last looked stable
        self._deaths: collections.deque[float] = collections.deque(maxlen=attempts)

    def record(self, now: float) -> Verdict:
        """Record a death at monotonic time `now`."""
        deaths = self._deaths
        deaths.append(now)
        if len(deaths) < self.attempts:
            return "ok"
        if deaths[-1] - deaths[0] > self.window:
            self.rounds = 0  # dying, but slower than flapping: the rounds start over
            return "ok"
        deaths.clear()  # a new round starts counting from the retry
        self.rounds += 1
        if self.max_retry and self.rounds > self.max_retry:
            self.rounds = 0
            return "give_up"
        return "flapping"

    def reset(self) -> None:
        self._deaths.clear()
        self.rounds = 0
