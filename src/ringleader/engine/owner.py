"""What a Process sees of its watcher (``Owner``): the engine's Watcher is one; the
Process never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ringleader.config.features import HookName
from ringleader.config.model import WatcherConfig
from ringleader.proc.spawn import SpawnSpec

if TYPE_CHECKING:
    from ringleader.features.listeners import ListenerPool


class Owner(Protocol):
    """The side of the watcher a process sees."""

    name: str
    config: WatcherConfig

    def spec_for(self, wid: int) -> SpawnSpec:
        """The spawn spec of slot `wid`: the template plus sockets, sd_notify, cgroup."""
        ...

    def hook_in_background(self, name: HookName, **extra: object) -> None:
        """Run a reporting-only hook (after_spawn, before_reap, after_reap)."""
        ...

    def wants(self, wid: int) -> bool:
        """Whether slot `wid` should be running (watcher active and wid in range)."""
        ...

    def listener_pool(self) -> ListenerPool | None:
        """The event listener pool its processes belong to (supervisord events)."""
        ...
