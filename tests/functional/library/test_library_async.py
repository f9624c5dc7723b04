"""The async Arbiter's typed surface, with real processes: the same Structs as the control
API and the BackgroundArbiter, from ``async with Arbiter(...)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ringleader import Arbiter
from ringleader.config.features import SocketConfig
from ringleader.engine.answers import (
    LogsResponse,
    OptionsResponse,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
)
from ringleader.errors import BadArgument, NotFound, NotRunning
from ringleader.lifecycle.events import ProcessStateChanged, WatcherChanged
from ringleader.testing import python_cmd
from ringleader.testing import run_async as run

NULL = {"kind": "null"}
TALKER = python_cmd("print('hello', flush=True)\nimport time\ntime.sleep(600)\n")


def sleeper(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": "sleep 997", "stdout_stream": NULL, "stderr_stream": NULL,
            **options}


def test_queries_answer_with_the_api_structs() -> None:
    async def main() -> None:
        sockets = [SocketConfig(name="web", port=0)]
        async with Arbiter([sleeper("a", numprocesses=2), sleeper("b", autostart=False)],
                           sockets=sockets) as arbiter:
            status = arbiter.status()
            assert isinstance(status, StatusResponse)
            assert [(w.name, w.running) for w in status.watchers] == [("a", 2), ("b", 0)]
            assert status.controller.uptime >= 0 and status.controller.config is None
            a = arbiter.status("a")
            assert isinstance(a, WatcherInfo) and a.numprocesses == 2
            assert arbiter.list_watchers() == WatcherList(watchers=["a", "b"])
            assert arbiter.numprocesses("a") == 2
            options = arbiter.options("a", "cmd")
            assert options == OptionsResponse(name="a", options={"cmd": "sleep 997"})
            stats = await arbiter.stats("a")
            assert isinstance(stats, StatsResponse) and len(stats.watchers[0].processes) == 2
            listing = arbiter.list_sockets()
            assert isinstance(listing, SocketList)
            (web,) = listing.sockets
            assert web.name == "web" and web.address.startswith("127.0.0.1:")
            with pytest.raises(NotFound, match="no option nope"):
                arbiter.options("a", "nope")
        # Stopped: the uptime says so; operations say it is not running.
        assert arbiter.status().controller.uptime == 0
        with pytest.raises(NotRunning, match="not running"):
            await arbiter.add_watcher(sleeper("c"))

    run(main())


def test_logs_follow_logs_and_events() -> None:
    async def main() -> None:
        async with Arbiter([{"name": "t", "cmd": TALKER, "autostart": False}],
                           console_fd=_devnull()) as arbiter:
            follow = arbiter.follow_logs("t")
            events = arbiter.events("watcher.changed", "process.state")
            await arbiter.start_watcher("t")
            line = await anext(follow)
            assert (line.watcher, line.wid, line.line) == ("t", 1, "hello")
            await follow.aclose()
            recent = arbiter.logs("t", 5)
            assert isinstance(recent, LogsResponse) and [x.line for x in recent.lines] == [
                "hello"]
            kinds = {type(await anext(events)) for _ in range(3)}
            assert kinds == {WatcherChanged, ProcessStateChanged}
            await events.aclose()
            with pytest.raises(NotFound):
                arbiter.follow_logs("nope")

    run(main())


def test_add_set_options_and_signal_with_its_hooks(tmp_path: Path) -> None:
    calls = tmp_path / "hooks"
    hook = {"target": f'echo "$RINGLEADER_HOOK $RINGLEADER_SIGNAL_NAME" >> {calls}',
            "kind": "shell"}

    async def main() -> None:
        async with Arbiter([sleeper("a", hooks={"before_signal": hook})]) as arbiter:
            info = await arbiter.add_watcher(sleeper("b", numprocesses=2))
            assert isinstance(info, WatcherInfo) and info.running == 2
            changed = await arbiter.set_options("b", {"graceful_timeout": 4})
            assert isinstance(changed, OptionsResponse)
            assert changed.options["graceful_timeout"] == 4
            (pid,) = arbiter.pids("a")
            # A name, the pid: the same path as the API's, hooks included.
            assert await arbiter.signal("a", "CONT", pid=pid) == 1
            assert calls.read_text() == "before_signal SIGCONT\n"
            with pytest.raises(BadArgument, match="no such signal: SIGNOPE"):
                await arbiter.signal("a", "SIGNOPE")
            with pytest.raises(BadArgument, match=r"pid \d+ is process 1, not 2"):
                await arbiter.signal("a", "CONT", pid=pid, wid=2)

    run(main())


def _devnull() -> int:
    fd = os.open(os.devnull, os.O_WRONLY)
    DEVNULL.append(fd)
    return fd


DEVNULL: list[int] = []


@pytest.fixture(autouse=True)
def _close() -> Any:
    yield
    while DEVNULL:
        os.close(DEVNULL.pop())
