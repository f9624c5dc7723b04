"""What the agent needs from the local arbiter: the seam between the cluster and the engine.

The agent never imports the engine. Phase 2 makes the arbiter (or a thin adapter over it)
satisfy ``ClusterArbiter``; tests use an in-memory fake. A cluster watcher is an ordinary
local watcher named after its job and marked as owned by it, so ``status`` can show the job
and local ``rm``/``set`` can refuse to touch it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ringleader.config.model import WatcherConfig


@dataclass(frozen=True)
class OwnedWatcher:
    """A local watcher that a cluster job owns."""

    job: str
    config: WatcherConfig  # as running now, numprocesses included


class ClusterArbiter(Protocol):
    """The arbiter methods the agent uses; every change goes through them."""

    def owned_watchers(self) -> Mapping[str, OwnedWatcher]:
        """The cluster-owned watchers, by watcher name."""
        ...

    async def add_owned_watcher(self, job: str, config: WatcherConfig) -> None:
        """Add and start a watcher owned by ``job``. Raises AlreadyExists if a local
        watcher has that name (the agent then leaves it alone and reports the clash)."""
        ...

    async def update_owned_watcher(self, config: WatcherConfig) -> None:
        """Bring an owned watcher to ``config``: when only ``numprocesses`` differs, scale
        in place; otherwise replace its processes as a config reload does."""
        ...

    async def remove_owned_watcher(self, name: str) -> None:
        """Stop an owned watcher's processes and remove it."""
        ...
