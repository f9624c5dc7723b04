"""The stream hub in-process, over a real Arbiter with real processes: one buffer for every
stream, a stream that fell behind is reset (never a queue that grows), status coalesced,
the hub stops after its linger and every stream ends when it is closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ringleader.api.commands import Commands
from ringleader.api.stream_hub import StreamHub
from ringleader.dashboard.stream import parse_stream_request
from ringleader.engine.arbiter import Arbiter
from ringleader.testing import run_async as run

# prints "line N" for N in 0..count-1 when it gets SIGUSR1, then waits
PRINTER = ("python3 -u -c 'import signal,sys,time\n"
           "signal.signal(signal.SIGUSR1, lambda *a: [print(\"line\", i) for i in "
           "range(int(sys.argv[1]))])\nprint(\"ready\")\ntime.sleep(600)' ")


class _NoController:
    def quit(self) -> None: ...

    def record(self, op: str, name: str | None, value: object = None) -> None: ...

    async def reload_config(self) -> Any:
        raise NotImplementedError


@asynccontextmanager
async def hub_over(count: int = 1, **options: Any) -> AsyncIterator[tuple[StreamHub, Arbiter]]:
    arbiter = Arbiter([{"name": "p", "cmd": PRINTER + str(count)}])
    async with arbiter:
        hub = StreamHub(Commands(arbiter, _NoController()), **options)  # type: ignore[arg-type]
        try:
            yield hub, arbiter
        finally:
            hub.close()


def request(query: str, last_id: str | None = None) -> Any:
    pairs = (part.split("=", 1) for part in query.split("&"))
    return parse_stream_request({k: [v] for k, v in pairs}, last_id)


async def messages(frames: AsyncGenerator[bytes], want: int) -> list[tuple[str, str]]:
    """(event, data) of the next *want* messages (retry lines aside)."""
    out: list[tuple[str, str]] = []
    while len(out) < want:
        chunk = (await anext(frames)).decode()
        for block in chunk.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
            if "event" in fields:
                out.append((fields["event"], fields.get("data", "")))
    return out


async def until_ready(arbiter: Arbiter) -> None:
    async with asyncio.timeout(10):
        while not any(line.line == "ready" for line in arbiter.logs("p").lines):
            await asyncio.sleep(0.01)  # polling the buffer: no event tells a printed line


def test_a_stream_that_falls_behind_the_buffer_is_reset() -> None:
    async def main() -> None:
        async with hub_over(count=50, max_items=20) as (hub, arbiter):
            await until_ready(arbiter)
            slow = hub.follow(request("topics=logs&backlog=20"))
            assert [e for e, _ in await messages(slow, 2)] == ["hello", "log"]  # "ready"
            arbiter.watcher("p").send_signal(10)  # 50 lines: more than the buffer holds
            assert hub.buffer is not None
            async with asyncio.timeout(10):
                while hub.buffer.last_id is None or hub.buffer.last_id.seq < 51:
                    await asyncio.sleep(0.01)
            got = await messages(slow, 21)
            assert got[0] == ("reset", '{"reason": "this stream fell behind"}')
            assert [json.loads(d)["line"] for _, d in got[1:]] == \
                [f"line {i}" for i in range(30, 50)]  # as a fresh stream: its backlog
            assert len(hub.buffer) == 20
            await slow.aclose()
            assert hub.streams == 0

    run(main())


def test_status_is_coalesced_and_sent_once_per_change() -> None:
    async def main() -> None:
        async with hub_over(status_period=0.3) as (hub, arbiter):
            stream = hub.follow(request("topics=status"))
            assert [e for e, _ in await messages(stream, 2)] == ["hello", "status"]
            assert hub.buffer is not None
            events_before = len(hub.buffer)  # nothing dropped: counting is seq
            await arbiter.watcher("p").incr(3)  # many events: spawns, state changes
            statuses = 0
            async with asyncio.timeout(10):
                while True:  # status messages until one shows the 4 processes running
                    got = await messages(stream, 1)
                    assert {e for e, _ in got} == {"status"}
                    statuses += len(got)
                    processes = json.loads(got[-1][1])["watchers"][0]["processes"]
                    if [p["state"] for p in processes] == ["running"] * 4:
                        break
            events = len(hub.buffer) - events_before
            assert events >= 6 and statuses < events  # a handful, not one per event
            await stream.aclose()

    run(main())


def test_the_hub_lingers_then_stops_and_closing_it_ends_every_stream() -> None:
    async def main() -> None:
        async with hub_over(linger=0.2) as (hub, _):
            stream = hub.follow(request("topics=events"))
            await messages(stream, 1)
            assert hub.buffer is not None
            epoch = hub.buffer.epoch
            await stream.aclose()
            assert hub.running  # lingers: a tab shown again resumes
            async with asyncio.timeout(5):
                while hub.running:
                    await asyncio.sleep(0.05)
            again = hub.follow(request("topics=events", f"{epoch}-1"))
            got = await messages(again, 2)
            assert got[0][1] == '{"topics":["events"],"resumed":false}'  # a new epoch
            assert got[1][0] == "reset"
            other = hub.follow(request("topics=events"))
            await messages(other, 1)
            hub.close()
            for frames in (again, other):
                async with asyncio.timeout(5):
                    assert [chunk async for chunk in frames] == []
            assert hub.streams == 0

    run(main())
