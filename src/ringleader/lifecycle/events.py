"""Typed events and the in-process event bus (one bus per Arbiter, never global).

Events are msgspec Structs, not dataclasses: defining six frozen dataclasses cost the
controller ~7 ms of start-up, and each spawn publishes three events (a Struct is built
about ten times faster)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import ClassVar

import msgspec

log = logging.getLogger("ringleader.events")


class Event(msgspec.Struct, frozen=True, kw_only=True):
    topic: ClassVar[str] = "event"
    at: float = msgspec.field(default_factory=time.time)  # wall clock: for display


class ProcessStateChanged(Event, frozen=True, kw_only=True):
    topic: ClassVar[str] = "process.state"
    watcher: str
    wid: int
    pid: int | None
    old: str
    new: str
    reason: str = ""


class ProcessSpawned(Event, frozen=True, kw_only=True):
    topic: ClassVar[str] = "process.spawned"
    watcher: str
    wid: int
    pid: int


class ProcessExited(Event, frozen=True, kw_only=True):
    topic: ClassVar[str] = "process.exited"
    watcher: str
    wid: int
    pid: int
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    uptime: float
    expected: bool  # True when the controller asked it to stop


class WatcherChanged(Event, frozen=True, kw_only=True):
    topic: ClassVar[str] = "watcher.changed"
    watcher: str
    action: str  # added, removed, starting, active, stopping, stopped, scaled
    detail: str = ""


class ConfigReloaded(Event, frozen=True, kw_only=True):
    topic: ClassVar[str] = "config.reloaded"
    source: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    error: str = ""


Listener = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out to listeners, plus bounded async subscriptions.

    Listeners run inline in the loop thread, so they must be quick; a listener that
    raises is logged and the others still get the event.
    """

    __slots__ = ("_listeners", "_queues")

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._queues: list[asyncio.Queue[Event | None]] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event.topic)
        for queue in tuple(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A slow subscriber loses its stream rather than making the controller
                # buffer without bound: it gets an end marker once it catches up.
                self._queues.remove(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    def stream(self, topics: frozenset[str] | None = None,
               maxsize: int = 10_000) -> Subscription:
        """Events (optionally only those whose topic starts with one of `topics`) as an
        async iterator, subscribed from this call on: nothing published after it is
        missed, however late iteration starts."""
        return Subscription(self, topics, maxsize)


class Subscription:
    __slots__ = ("_bus", "_queue", "_topics")

    def __init__(self, bus: EventBus, topics: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self._topics = topics
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        bus._queues.append(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = await self._queue.get()
            if event is None:
                await self.aclose()
                raise StopAsyncIteration
            topics = self._topics
            if topics is None or any(event.topic.startswith(t) for t in topics):
                return event

    async def aclose(self) -> None:
        if self._queue in self._bus._queues:
            self._bus._queues.remove(self._queue)
