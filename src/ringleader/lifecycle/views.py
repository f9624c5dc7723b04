"""What features may read of a watcher and its processes, and what they may ask of them.

Drivers (auto-scaling, resource limits), the health monitor, hooks and the stats sampler
depend on these Protocols, never on the engine's classes: the engine builds them and hands
itself over, so imports flow one way (engine -> features -> lifecycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ringleader.config.model import WatcherConfig
    from ringleader.lifecycle.events import EventBus
    from ringleader.lifecycle.states import ProcessState
    from ringleader.proc.spawn import SpawnTemplate

__all__ = ["ProcessView", "WatcherView"]


class ProcessView(Protocol):
    """One process slot (``web.3``) as features see it."""

    @property
    def wid(self) -> int: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> ProcessState: ...
    @property
    def is_alive(self) -> bool: ...
    @property
    def reason(self) -> str: ...  # why it is in its state (exit code, backoff delay, ...)
    @property
    def restarts(self) -> int: ...
    @property
    def exit_history(self) -> Iterable[int]: ...  # recent exit codes, -N: killed by signal N
    def uptime(self) -> float: ...

    def mark_ready(self, reason: str) -> bool:
        """STARTING -> RUNNING (a health check passed); False if it was not starting."""
        ...


class WatcherView(Protocol):
    """A watcher as features see it: its state, its slots, its bus, and the two actions a
    feature may take (scale it, restart one of its processes)."""

    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str | None: ...  # its [groups.NAME]
    @property
    def config(self) -> WatcherConfig: ...
    @property
    def template(self) -> SpawnTemplate: ...  # the processes' environment is template.env
    @property
    def numprocesses(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def is_busy(self) -> bool: ...  # a start, stop, scale or reload holds its lock
    @property
    def processes(self) -> Mapping[int, ProcessView]: ...
    @property
    def bus(self) -> EventBus: ...
    def pids(self) -> list[int]: ...

    async def set_numprocesses(self, count: int) -> int: ...

    async def restart_process(self, wid: int, reason: str) -> bool:
        """Replace one process (graceful stop, then a new spawn in its slot)."""
        ...
