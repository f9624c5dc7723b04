"""Feeds: one sampler per (interval, filter), the same snapshot for every follower, stopped
with its last follower. The sample function is a stand-in counting its calls."""

from __future__ import annotations

import asyncio

from ringleader.api.feeds import Feeds
from ringleader.errors import NotFound
from ringleader.testing import run_async as run
from ringleader.testing import wait_until


class Sampler:
    def __init__(self) -> None:
        self.calls: list[str | None] = []
        self.missing: set[str] = set()

    async def __call__(self, only: str | None) -> bytes:
        if only in self.missing:
            raise NotFound(f"no watcher {only}")
        self.calls.append(only)
        return f"{only}#{len(self.calls)}".encode()


def test_followers_of_one_feed_share_each_snapshot() -> None:
    async def main() -> None:
        sample = Sampler()
        feeds = Feeds(sample)
        first, second = feeds.follow(0.01), feeds.follow(0.01)
        a = [await anext(first) for _ in range(3)]
        b = await anext(second)  # joins late: the latest snapshot at once
        assert b == a[-1] and feeds.samplers == 1
        assert await anext(first) == await anext(second)  # then the same next one
        other = feeds.follow(0.02)
        await anext(other)
        filtered = feeds.follow(0.01, "web")
        assert (await anext(filtered)).startswith(b"web#")
        assert feeds.samplers == 3
        for stream in (first, second, other, filtered):
            await stream.aclose()
        assert feeds.samplers == 0

    run(main(), timeout=10)


def test_the_sampler_stops_with_its_last_follower() -> None:
    async def main() -> None:
        sample = Sampler()
        feeds = Feeds(sample)
        stream = feeds.follow(0.01)
        await anext(stream)
        (sampler,) = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await stream.aclose()
        assert feeds.samplers == 0
        await wait_until(sampler.done, timeout=5, what="the sampler task to end")
        assert sampler.cancelled()

    run(main(), timeout=10)


def test_a_slow_follower_skips_to_the_latest_snapshot() -> None:
    async def main() -> None:
        sample = Sampler()
        feeds = Feeds(sample)
        fast, slow = feeds.follow(0.001), feeds.follow(0.001)
        await anext(slow)
        seen = [await anext(fast) for _ in range(20)]
        assert await anext(slow) == seen[-1]  # not the next one in line: the newest
        await fast.aclose()
        await slow.aclose()

    run(main(), timeout=10)


def test_streams_end_when_their_watcher_is_gone() -> None:
    async def main() -> None:
        sample = Sampler()
        feeds = Feeds(sample)
        stream = feeds.follow(0.01, "web")
        await anext(stream)
        sample.missing.add("web")
        assert [data async for data in stream] == []  # it ends, without an error
        assert feeds.samplers == 0

    run(main(), timeout=10)


def test_a_cancelled_follower_does_not_disturb_the_others() -> None:
    async def main() -> None:
        feeds = Feeds(Sampler())
        one, two = feeds.follow(0.05), feeds.follow(0.05)
        await anext(one)
        await anext(two)
        waiting = asyncio.ensure_future(anext(one))
        await asyncio.sleep(0)  # let it start waiting for the next snapshot
        waiting.cancel()
        assert await anext(two)  # the shared wake-up was not cancelled with it
        await one.aclose()
        await two.aclose()

    run(main(), timeout=10)
