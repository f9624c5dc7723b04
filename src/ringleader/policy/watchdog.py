"""Resource watchdog: which processes stayed over their memory or CPU limit for `checks`
consecutive checks, and so should be restarted.

Pure: fed samples by the caller (``features.drivers.resources``); no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:  # policy stays free of runtime imports from the rest of ringleader
    from ringleader.config.features import WatchdogConfig

__all__ = ["ProcessKey", "ResourceWatchdog"]

ProcessKey = tuple[int, int]  # (wid, pid): a respawn in the same slot starts afresh


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MiB"


@final
class ResourceWatchdog:
    __slots__ = ("_config", "_over")

    def __init__(self, config: WatchdogConfig) -> None:
        self._config = config
        self._over: dict[ProcessKey, int] = {}  # consecutive checks over a limit

    @property
    def config(self) -> WatchdogConfig:
        return self._config

    def check(self, key: ProcessKey, rss: int, cpu: float) -> str | None:
        """Record one sample (`rss` bytes, `cpu` % of one core); the reason to restart
        the process once it has been over a limit for `checks` checks in a row."""
        c = self._config
        over: list[str] = []
        if c.max_rss is not None and rss > c.max_rss:
            over.append(f"memory {_mb(rss)} over {_mb(c.max_rss)}")
        if c.max_cpu is not None and cpu > c.max_cpu:
            over.append(f"CPU {cpu:.1f}% over {c.max_cpu:g}%")
        if not over:
            self._over.pop(key, None)
            return None
        count = self._over[key] = self._over.get(key, 0) + 1
        if count < c.checks:
            return None
        # Counted afresh: should the restart not happen, the next reason takes as long.
        del self._over[key]
        checks = "1 check" if count == 1 else f"{count} checks in a row"
        return f"{' and '.join(over)} for {checks}"

    def forget(self, key: ProcessKey) -> None:
        self._over.pop(key, None)

    def retain(self, keys: Collection[ProcessKey]) -> None:
        """Forget every process but `keys` (those alive at the last sample)."""
        for key in [k for k in self._over if k not in keys]:
            del self._over[key]
