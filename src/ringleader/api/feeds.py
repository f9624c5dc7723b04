"""Stats streams share their sampling: one sampler per (interval, watcher filter), however
many clients follow it.

Sampling reads /proc for every process (psutil, in a worker thread); before this, each
`stats` stream sampled on its own, so 200 streams at a short interval cost 200 samplings
per period. A `Feed` samples once per period while it has subscribers, encodes the
snapshot once, and hands every subscriber the same bytes (the snapshot's ``at`` says when it
was taken: two streams of one feed show the same values). A subscriber always gets the
latest snapshot and skips those it was too slow for, so a slow client never makes a queue
grow. The sampler stops with its last subscriber.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import final

from ringleader.errors import NotFound

log = logging.getLogger("ringleader.api.feeds")

__all__ = ["MIN_INTERVAL", "Feeds", "Sample"]

# A sampling reads /proc for every process: the API refuses a shorter interval (it does not
# clamp it, so that the client knows).
MIN_INTERVAL = 0.5

# Takes the watcher filter (None: all); returns the encoded snapshot.
Sample = Callable[[str | None], Awaitable[bytes]]


class _Feed:
    """One sampler and the snapshots it publishes."""

    __slots__ = ("_next", "_sample", "interval", "latest", "only", "over", "seq",
                 "subscribers", "task")

    def __init__(self, sample: Sample, interval: float, only: str | None) -> None:
        self._sample = sample
        self.interval = interval
        self.only = only
        self.latest = b""
        self.seq = 0  # how many snapshots were published
        self.over = False  # the sampler ended: subscribers end after the latest snapshot
        self.subscribers = 0
        self._next: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"stats feed {interval:g}s")

    async def _run(self) -> None:
        try:
            while True:
                self._publish(await self._sample(self.only))
                await asyncio.sleep(self.interval)  # the period, not synchronisation
        except NotFound:
            pass  # the watcher it follows was removed: its streams end
        except Exception:
            log.exception("stats sampling failed: ending the stats streams")
        finally:
            self.over = True
            self._wake()

    def _publish(self, data: bytes) -> None:
        self.latest = data
        self.seq += 1
        self._wake()

    def _wake(self) -> None:
        woken, self._next = self._next, asyncio.get_running_loop().create_future()
        woken.set_result(None)

    async def changed(self) -> None:
        # asyncio.wait, not await: a subscriber cancelled while waiting must not cancel
        # the future every other subscriber waits on
        await asyncio.wait((self._next,))


@final
class Feeds:
    """The feeds of one API server, by (interval, watcher filter)."""

    def __init__(self, sample: Sample) -> None:
        self._sample = sample
        self._feeds: dict[tuple[float, str | None], _Feed] = {}

    @property
    def samplers(self) -> int:
        return len(self._feeds)

    async def follow(self, interval: float, only: str | None = None) -> AsyncGenerator[bytes]:
        """The snapshots of the (interval, only) feed, the latest first, until the feed
        ends or the caller closes the iterator."""
        key = (interval, only)
        feed = self._feeds.get(key)
        if feed is None or feed.over:
            feed = self._feeds[key] = _Feed(self._sample, interval, only)
        feed.subscribers += 1
        seen = 0
        try:
            while True:
                if feed.seq > seen:
                    seen = feed.seq
                    yield feed.latest
                elif feed.over:
                    return
                else:
                    await feed.changed()
        finally:
            feed.subscribers -= 1
            if feed.subscribers == 0:
                feed.task.cancel()
                if self._feeds.get(key) is feed:
                    del self._feeds[key]
