"""What a process slot's policies say of an exit, a failed spawn or a hang, in one place:
the respawn policy (backoff, flapping, giving up) and supervisord's start retries
(``start_secs``). The slot (engine/process.py) carries the decision out; this is pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from ringleader.policy.respawn import Decision, make_policy
from ringleader.policy.startup import StartRetries, wants_respawn

if TYPE_CHECKING:
    from ringleader.config.model import WatcherConfig

__all__ = ["SlotPolicy"]


@final
class SlotPolicy:
    __slots__ = ("_respawn", "_startup")

    def __init__(self, cfg: WatcherConfig) -> None:
        self._respawn = make_policy(cfg.flapping, cfg.backoff)
        # start_secs: exits before it are failed starts, counted here (supervisord)
        self._startup = StartRetries(cfg.start_retries)

    def renew(self, cfg: WatcherConfig) -> None:
        """The respawn options changed: follow them from now on (a new backoff streak; the
        failed starts keep counting)."""
        self._respawn = make_policy(cfg.flapping, cfg.backoff)
        self._startup.retries = cfg.start_retries

    def reset(self) -> None:
        """An explicit start clears every streak."""
        self._respawn.reset()
        self._startup.reset()

    def started(self) -> None:
        """The start counted (supervisord: STARTING -> RUNNING)."""
        self._startup.reset()

    def after_exit(self, cfg: WatcherConfig, *, starting: bool, now: float, uptime: float,
                   code: int | None, sig: int | None) -> Decision | None:
        """An exit nobody asked for, of a slot still wanted; None: not respawned."""
        if starting and cfg.start_secs > 0:
            # whatever respawn says (supervisord BACKOFF)
            return self._startup.on_failed_start(
                f"within {cfg.start_secs:g}s of its start (start_secs)")
        if not wants_respawn(cfg.respawn, cfg.exit_codes, code, sig):
            return None
        return self._respawn.on_exit(now, uptime, code, sig)

    def after_spawn_failure(self, cfg: WatcherConfig, now: float) -> Decision:
        if cfg.start_secs > 0:  # supervisord: a spawn error is a failed start
            return self._startup.on_failed_start("failed to spawn")
        return self._respawn.on_spawn_failure(now)

    def after_not_ready(self, now: float) -> Decision:
        """Not ready within ready_timeout: a failed start for the respawn policy."""
        return self._respawn.on_spawn_failure(now, "failed to start")

    def after_hang(self, now: float, uptime: float, sig: int) -> Decision:
        """No WATCHDOG=1 in time: a death (one that hangs young keeps backing off)."""
        return self._respawn.on_exit(now, uptime, None, sig)
