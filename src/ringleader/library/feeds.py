"""Feeds: what the engine's loop streams (events, followed log lines), read as a plain
iterator in the application's threads.

A pump task on the engine's loop moves items from the async source into a small buffer
that the reading thread drains. When the buffer is full the pump waits for room, so a slow
reader pushes back on the source, whose own bound then applies exactly as it does for a
client of the control API: an event subscription that falls 10,000 events behind ends, a
log follower gets a ``[N lines dropped]`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

log = logging.getLogger("ringleader.library")

T = TypeVar("T")

BUFFER = 1000


class FeedBuffer(Generic[T]):
    """The part of a feed that both threads touch; the pump holds this, never the Feed, so
    that a Feed the application drops is collected (and its pump stopped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = BUFFER) -> None:
        self._loop = loop
        self._maxsize = maxsize
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[T] = deque()
        self._ended = False
        self._pump_waiting = False
        self._room: asyncio.Event | None = None  # created on the loop, by the pump
        self._task: asyncio.Task[None] | None = None

    # -- on the engine's loop ------------------------------------------------------------

    def start(self, source: AsyncIterator[T]) -> None:
        """Start pumping `source` (called on the loop)."""
        self._room = asyncio.Event()
        self._task = self._loop.create_task(self._pump(source))

    async def _pump(self, source: AsyncIterator[T]) -> None:
        assert self._room is not None
        try:
            async for item in source:
                with self._cond:
                    if self._ended:
                        return
                    self._items.append(item)
                    self._cond.notify_all()
                    full = self._pump_waiting = len(self._items) >= self._maxsize
                    if full:
                        self._room.clear()
                # No await between clear() and wait(): the reader's set() comes after.
                if full:
                    await self._room.wait()
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
            self.end()

    # -- in any thread -------------------------------------------------------------------

    def end(self) -> None:
        """No more items will come; what is buffered can still be read."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def close(self) -> None:
        """End the feed now, dropping what is buffered, and stop its pump."""
        self.end()
        with self._cond:
            self._items.clear()
        task = self._task
        if task is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(task.cancel)

    def get(self, timeout: float | None) -> T | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._ended, timeout):
                raise TimeoutError(f"nothing arrived within {timeout:g} s")
            if not self._items:
                return None
            item = self._items.popleft()
            if self._pump_waiting:
                self._pump_waiting = False
                room = self._room
                if room is not None:
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(room.set)
            return item

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and not self._items


class Feed(Generic[T]):
    """Events or log lines from the engine, from the moment the feed was opened: iterate
    over it (``for event in feed``), or ``get(timeout)`` one at a time.

    It ends (iteration stops) when closed, when the arbiter stops, or when it fell too far
    behind. Use it as a context manager, or ``close()`` it, to unsubscribe.
    """

    def __init__(self, buffer: FeedBuffer[T], on_close: Callable[[FeedBuffer[T]], None]) -> None:
        self._buffer = buffer
        self._finalizer = weakref.finalize(self, _close, buffer, on_close)

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None once the feed has ended. TimeoutError if nothing came
        within `timeout` seconds (None: wait as long as it takes)."""
        return self._buffer.get(timeout)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = self._buffer.get(None)
        if item is None:
            raise StopIteration
        return item

    @property
    def closed(self) -> bool:
        """True once the feed has ended and everything it delivered was read."""
        return self._buffer.ended

    def close(self) -> None:
        """Unsubscribe; items not yet read are dropped. Idempotent, from any thread."""
        self._finalizer()

    def __enter__(self) -> Feed[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close(buffer: FeedBuffer[T], on_close: Callable[[FeedBuffer[T]], None]) -> None:
    buffer.close()
    on_close(buffer)


def dispatch(feed: Feed[T], callback: Callable[[T], object]) -> None:
    """Call `callback` with every item of `feed` until it ends (a thread's target). A
    callback that raises is logged; the next item still comes."""
    for item in feed:
        try:
            callback(item)
        except Exception:
            log.exception("event callback %r failed", callback)
