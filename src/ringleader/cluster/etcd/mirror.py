"""A local copy of a key range, kept current by a watch that resumes where it stopped.

``Mirror.run`` reads the range once, then watches it from the next revision. When the watch
breaks (member down, connection cut, leader lost) the copy stays as it was (static stability:
a consumer sees no change, only ``synced`` turning false) and the watch is reopened, with a
growing delay, from the last revision seen: no event is lost or seen twice. Progress
notifications move that revision on during quiet times, so a resume rarely falls behind
etcd's compaction; when it does, the range is read again and the consumer gets the
difference, as if it had seen every event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import EtcdAuthError, EtcdCompacted, EtcdError
from ringleader.cluster.etcd.wire import KeyValue, WatchResponse

log = logging.getLogger("ringleader.cluster.etcd")

Change = tuple[bytes, KeyValue | None]  # (key, its new value; None once deleted)


class RetryDelay:
    """Growing delays with jitter between retries: ``initial``, then ``factor`` times
    longer up to ``maximum``; ``reset`` after a success."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._next = initial
        self._random = random.Random()

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return delay * self._random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


class Signal:
    """Wakes every waiter each time it fires (an Event that re-arms itself)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class Mirror:
    """The keys in [key, range_end) (just ``key`` without range_end), by key.
    ``on_change`` gets the changes of each watch answer and of each full read (possibly
    none, after a read)."""

    def __init__(self, client: EtcdClient, key: bytes, range_end: bytes = b"", *,
                 on_change: Callable[[list[Change]], None] | None = None,
                 max_delay: float = 5.0) -> None:
        self.items: dict[bytes, KeyValue] = {}
        self.revision = 0  # every event up to this revision is in ``items``
        self.synced = False  # the watch is open now
        self.last_error: str | None = None
        self._client = client
        self._key = key
        self._range_end = range_end
        self._on_change = on_change
        self._delay = RetryDelay(maximum=max_delay)
        self._kick = asyncio.Event()
        self._progress = Signal()
        self._watching: asyncio.Task[bool] | None = None

    def kick(self) -> None:
        """Retry now rather than after the current delay (etcd is known to be back)."""
        self._kick.set()

    async def wait_revision(self, revision: int) -> None:
        """Until the copy reflects ``revision`` (e.g. one's own write)."""
        while self.revision < revision:
            await self._progress.wait()

    def restart(self) -> None:
        """Drop the watch and open it again from the last revision: after etcd was away,
        a watch connection may hang without an error (a stopped member, a dropped route)
        and would then never deliver another event."""
        if self._watching is not None and not self._watching.done():
            self._watching.cancel()
        self.kick()

    async def run(self) -> None:
        """Keep the copy current until cancelled."""
        reread = True
        while True:
            self._watching = asyncio.create_task(self._follow(reread))
            try:
                reread = await self._watching
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # run itself is cancelled
                reread = self.revision == 0  # restart(): resume from the last revision
                self._set_synced(False)

    async def _follow(self, reread: bool) -> bool:
        """Read (if asked) and watch until the watch fails; whether to read again."""
        try:
            if reread:
                await self.refresh()
                reread = False
            async for response in self._client.watch(
                    self._key, self._range_end, start_revision=self.revision + 1):
                self._apply(response)
        except EtcdCompacted as exc:
            log.info("watch on %s fell behind compaction (%s): reading it again",
                     self._key.decode(errors="replace"), exc)
            return True
        except EtcdError as exc:
            self._lost(exc)
            await self._pause()
        return reread

    def _lost(self, exc: EtcdError) -> None:
        reason = str(exc)
        if self.synced or reason != self.last_error:
            level = logging.ERROR if isinstance(exc, EtcdAuthError) else logging.INFO
            log.log(level, "watch on %s interrupted at revision %d: %s",
                    self._key.decode(errors="replace"), self.revision, reason)
        self.last_error = reason
        self._set_synced(False)

    async def _pause(self) -> None:
        self._kick.clear()
        try:
            async with asyncio.timeout(self._delay.next()):
                await self._kick.wait()
        except TimeoutError:
            pass

    def _set_synced(self, synced: bool) -> None:
        if synced and not self.synced and self.last_error is not None:
            log.info("watch on %s resumed at revision %d", self._key.decode(errors="replace"),
                     self.revision)
            self.last_error = None
        if synced != self.synced:
            self.synced = synced
            self._progress.fire()
        if synced:
            self._delay.reset()

    async def refresh(self) -> None:
        """Read the range now and bring the copy up to it, without waiting for the watch
        (etcd is back: the copy must be current before anyone acts on it). Safe while the
        watch runs: a read older than what the watch delivered is dropped, and events the
        read already covers are skipped."""
        if self._range_end:
            kvs, revision = await self._client.range_all(self._key, self._range_end)
        else:
            response = await self._client.range(self._key)
            kvs, revision = list(response.kvs), response.header.revision
        if revision <= self.revision:
            return
        fresh = {kv.key: kv for kv in kvs}
        changes: list[Change] = [(k, None) for k in self.items if k not in fresh]
        changes += [(k, kv) for k, kv in fresh.items()
                    if (old := self.items.get(k)) is None or old.mod_revision != kv.mod_revision]
        self.items = fresh
        self.revision = revision
        self._notify(changes, read=True)
        self.kick()

    def _apply(self, response: WatchResponse) -> None:
        if response.created:  # live again; its header says nothing of the events to come
            self._set_synced(True)
            return
        changes: list[Change] = []
        seen = self.revision  # the events of one transaction share a revision: compare
        for event in response.events:  # with where this batch started, not as it goes
            kv = event.kv
            if kv.mod_revision <= seen:
                continue  # already seen before the watch was resumed
            if event.type == "DELETE":
                if self.items.pop(kv.key, None) is not None:
                    changes.append((kv.key, None))
            else:
                self.items[kv.key] = kv
                changes.append((kv.key, kv))
            self.revision = kv.mod_revision
        if not response.events:  # a progress notification: all before it was sent
            self.revision = max(self.revision, response.header.revision)
        self._set_synced(True)
        self._notify(changes)

    def _notify(self, changes: list[Change], *, read: bool = False) -> None:
        """Tell the consumer; after a read always, even of nothing new (the first read of
        an empty range is news: the copy is ready)."""
        self._progress.fire()
        if (changes or read) and self._on_change is not None:
            self._on_change(changes)
