"""supervisord's start semantics (``startsecs``, ``startretries``, ``autorestart``), pure.

A start counts once the process has stayed up ``start_secs``; an exit before is a failed
start (supervisord: STARTING -> BACKOFF), retried after 1, 2, 3... seconds (the n-th
failure waits n seconds), whatever ``respawn`` says; after ``start_retries`` retries the
next failure gives the slot up (BACKOFF -> FATAL, our ``failed``). Reaching ``running``
resets the count, as an explicit start does.

``wants_respawn`` is ``autorestart``: after a run that counted, respawn always, never, or
only when the exit was unexpected (an exit code not in ``exit_codes``, or a signal).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import final

from ringleader.policy.respawn import Decision

__all__ = ["StartRetries", "wants_respawn"]


def wants_respawn(respawn: bool | str, exit_codes: Collection[int], exit_code: int | None,
                  signal: int | None) -> bool:
    if respawn == "unexpected":
        return signal is not None or exit_code not in exit_codes
    return bool(respawn)


@final
class StartRetries:
    __slots__ = ("failures", "retries")

    def __init__(self, retries: int) -> None:
        self.retries = retries
        self.failures = 0  # failed starts in a row

    def on_failed_start(self, what: str) -> Decision:
        """*what*: "exited within 1s of its start", "failed to spawn"."""
        self.failures += 1
        n = self.failures
        if n > self.retries:
            return Decision("give_up", 0.0, f"{what}: giving up after {self.retries} "
                                            f"retr{'y' if self.retries == 1 else 'ies'}")
        return Decision("respawn", float(n), f"{what}: retry {n} of {self.retries} in {n}s")

    def reset(self) -> None:
        self.failures = 0
