"""The server side of ``GET /v1/stream``, the dashboard's one live stream per tab (the
contract: ringleader/dashboard/PROTOCOL.md; the pure parts: ``ringleader.dashboard.stream``).

One `StreamHub` per controller, running while streams are open (and `linger` seconds
after the last one closes, so that a tab shown again resumes instead of starting over):

- it numbers the controller's events (a listener on the event bus) and its workers' output
  lines (one follower of every watcher, seeded with the recent lines) into one
  `ReplayBuffer`, bounded by items and bytes, with a random epoch per start;
- each connection is a cursor into that buffer, not a queue of its own: woken when
  something is added, it sends what its topics select after its cursor, in one write.
  A connection that fell further behind than the buffer holds gets ``reset`` and what a
  fresh stream gets: memory never grows with a slow client, whose writes the transport
  cuts off after its write timeout anyway;
- the status is encoded once per change for every connection, at most every
  `status_period` seconds (200 workers changing state in a burst make one message);
- stats come from the API's shared samplers (``api.feeds``), one per interval and
  watcher, whatever the number of tabs.

A stream opened with a dashboard session ends when that session does (sign-out, expiry,
idle timeout): the page then asks for a sign-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, final

import msgspec

from ringleader.api.commands import Commands
from ringleader.engine.answers import event_message
from ringleader.lifecycle.events import Event

if TYPE_CHECKING:
    from ringleader.dashboard.stream import Item, ReplayBuffer, StreamRequest

log = logging.getLogger("ringleader.api.stream")

__all__ = ["StreamHub"]

_encode = msgspec.json.Encoder().encode
_STATUS_TOPICS = ("process.", "watcher.", "config.")


@final
class StreamHub:
    def __init__(self, commands: Commands, *, linger: float = 60.0,
                 status_period: float = 0.5, seed_lines: int = 1000,
                 max_items: int = 10_000, max_bytes: int = 4 << 20,
                 check_every: float = 30.0) -> None:
        self._commands = commands
        self.linger = linger
        self.status_period = status_period
        self._seed_lines = seed_lines
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._check_every = check_every  # how often a stream looks at its session
        self.buffer: ReplayBuffer | None = None
        self.streams = 0
        self._changed: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._status_dirty = asyncio.Event()
        self._status_frame = b""
        self.status_version = 0

    @property
    def running(self) -> bool:
        return self.buffer is not None

    # -- lifecycle ----------------------------------------------------------------------

    def _start(self) -> None:
        from ringleader.dashboard.stream import ReplayBuffer

        arbiter = self._commands.arbiter
        buffer = ReplayBuffer(os.urandom(4).hex(), max_items=self._max_items,
                              max_bytes=self._max_bytes)
        follower = arbiter.logbuffer.follow(None)  # first: no line falls in between
        for line in arbiter.logbuffer.recent(None, self._seed_lines):
            buffer.append("log", _encode(line), watcher=line["watcher"], stream=line["stream"])
        self.buffer = buffer
        self._changed = asyncio.get_running_loop().create_future()
        self._unsubscribe = arbiter.bus.subscribe(self._on_event)
        self._status_frame = self._status_now()
        self._tasks = [asyncio.create_task(self._follow_logs(follower), name="stream logs"),
                       asyncio.create_task(self._coalesce_status(), name="stream status")]
        log.debug("stream hub started (epoch %s)", buffer.epoch)

    def close(self) -> None:
        """Stop following (the server stops, or nobody has looked for `linger` s)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        self.buffer = None
        self.wake()

    def wake(self) -> None:
        """Make every stream look again (new items, a status, or a session that ended)."""
        woken = self._changed
        if woken is not None and not woken.done():
            self._changed = asyncio.get_running_loop().create_future() \
                if self.buffer is not None else None
            woken.set_result(None)

    def _attach(self) -> None:
        self.streams += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self.buffer is None:
            self._start()

    def _detach(self) -> None:
        self.streams -= 1
        if self.streams == 0 and self.buffer is not None:
            self._linger = asyncio.get_running_loop().call_later(self.linger, self._idle)

    def _idle(self) -> None:
        self._linger = None
        if self.streams == 0:
            self.close()

    # -- what feeds the buffer -------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        buffer = self.buffer
        if buffer is None:
            return
        buffer.append("event", _encode(event_message(event)),
                      watcher=getattr(event, "watcher", None))
        if event.topic.startswith(_STATUS_TOPICS):
            self._status_dirty.set()
        self.wake()

    async def _follow_logs(self, follower: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for line in follower:
                if self.buffer is None:
                    return
                self.buffer.append("log", _encode(line), watcher=line["watcher"] or None,
                                   stream=line["stream"])
                self.wake()
        finally:
            aclose = getattr(follower, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _coalesce_status(self) -> None:
        while True:
            await self._status_dirty.wait()
            self._status_dirty.clear()
            self._status_frame = self._status_now()
            self.status_version += 1
            self.wake()
            await asyncio.sleep(self.status_period)  # the coalescing period

    def _status_now(self) -> bytes:
        from ringleader.dashboard.stream import encode_frame

        return encode_frame("status", _encode(self._commands.arbiter.status_dict()))

    # -- one connection -----------------------------------------------------------------

    async def follow(self, request: StreamRequest,
                     alive: Callable[[], bool] | None = None) -> AsyncGenerator[bytes]:
        """The frames of one stream, from its first ``anext()`` on (its cursor is taken
        then: what came before is replay or backlog, what comes after is live). *alive*:
        whether its session is still open."""
        from ringleader.dashboard.stream import EventId, encode_frame, retry_frame

        stats: AsyncGenerator[bytes] | None = None
        next_stats: asyncio.Future[bytes] | None = None
        self._attach()
        try:
            buffer = self.buffer
            assert buffer is not None
            items = None if request.resume is None else buffer.since(request.resume)
            hello = {"topics": sorted(request.topics), "resumed": items is not None}
            chunks = [retry_frame(), encode_frame("hello", _encode(hello))]
            if request.resume is not None and items is None:
                chunks.append(encode_frame("reset", b'{"reason": "the stream cannot be '
                                                    b'resumed: it starts afresh"}'))
            items = self._backlog(buffer, request) if items is None else \
                buffer.select(items, request)
            last = buffer.last_id
            cursor = last.seq if last is not None else 0
            chunks += [self._item_frame(buffer, item) for item in items]
            status_seen = self.status_version
            if "status" in request.topics:
                chunks.append(self._status_frame)
            if "stats" in request.topics:
                stats = self._commands.feeds.follow(request.interval, request.watcher)
                next_stats = asyncio.ensure_future(anext(stats))
            yield b"".join(chunks)
            wants_status = "status" in request.topics
            while True:
                changed = self._changed
                if changed is None:
                    return  # the hub was closed: the server stops
                last = buffer.last_id
                idle = (last is None or last.seq == cursor) and not \
                    (wants_status and status_seen != self.status_version) and \
                    (next_stats is None or not next_stats.done())
                if idle:  # else it was woken while its last chunk was being written
                    waiting: list[asyncio.Future[Any]] = [changed]
                    if next_stats is not None:
                        waiting.append(next_stats)
                    await asyncio.wait(waiting, timeout=self._check_every,
                                       return_when=asyncio.FIRST_COMPLETED)
                if (alive is not None and not alive()) or self.buffer is not buffer:
                    return  # the session ended, or the server stops
                chunks = []
                new = buffer.since(EventId(buffer.epoch, cursor))
                if new is None:  # it fell behind what the buffer holds: as if fresh
                    chunks.append(encode_frame("reset", b'{"reason": "this stream fell '
                                                        b'behind"}'))
                    new = self._backlog(buffer, request)
                else:
                    new = buffer.select(new, request)
                last = buffer.last_id
                cursor = last.seq if last is not None else cursor
                chunks += [self._item_frame(buffer, item) for item in new]
                if wants_status and status_seen != self.status_version:
                    status_seen = self.status_version
                    chunks.append(self._status_frame)
                if next_stats is not None and next_stats.done():
                    try:
                        chunks.append(encode_frame("stats", next_stats.result()))
                    except StopAsyncIteration:  # its watcher was removed: no more stats
                        next_stats = None
                    else:
                        assert stats is not None
                        next_stats = asyncio.ensure_future(anext(stats))
                if chunks:
                    yield b"".join(chunks)
        finally:
            if next_stats is not None:
                next_stats.cancel()
                with contextlib.suppress(BaseException):
                    await next_stats
            if stats is not None:
                await stats.aclose()
            self._detach()

    @staticmethod
    def _backlog(buffer: ReplayBuffer, request: StreamRequest) -> list[Item]:
        """What a fresh stream starts with: the last `backlog` items it selects (of what
        the buffer still holds, however many it has dropped)."""
        if not request.backlog:
            return []
        chosen = buffer.select(buffer.held(), request)
        return chosen[-request.backlog:]

    @staticmethod
    def _item_frame(buffer: ReplayBuffer, item: Item) -> bytes:
        from ringleader.dashboard.stream import EVENT_NAMES, encode_frame

        name = EVENT_NAMES["events" if item.kind == "event" else "logs"]
        return encode_frame(name, item.data, buffer.id_of(item))
