"""Every method of the BackgroundArbiter through real processes: the console's commands,
answered with the control API's Structs."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import ringleader
from ringleader import BackgroundArbiter, get_arbiter
from ringleader.engine.answers import (
    LogLine,
    LogsResponse,
    OptionsResponse,
    ReloadConfigResponse,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
)
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import AlreadyExists, ConfigError, NotFound
from ringleader.lifecycle.events import Event, ProcessStateChanged, WatcherChanged
from ringleader.testing import pid_exists, python_cmd, wait_until_sync

NULL = {"kind": "null"}
CONSOLE = {"kind": "console", "color": False}
FAST = {"min_uptime": 0.1}  # reloads wait that long for each new process

# Says "ready WID", then "got SIGNAME WID" for each SIGUSR1/SIGUSR2 it receives.
SIGNALLED = python_cmd(
    "import os, signal, time\n"
    "wid = os.environ['RINGLEADER_WID']\n"
    "def on(sig, frame):  # os.write: the handler may interrupt print()\n"
    "    os.write(1, f'got {signal.Signals(sig).name} {wid}\\n'.encode())\n"
    "signal.signal(signal.SIGUSR1, on)\n"
    "signal.signal(signal.SIGUSR2, on)\n"
    "print('ready', wid, flush=True)\n"
    "while True:\n"
    "    time.sleep(600)\n"
)


def sleeper(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": "sleep 997", "stdout_stream": NULL, "stderr_stream": NULL,
            "backoff": FAST, **options}


@pytest.fixture
def two() -> Iterator[BackgroundArbiter]:
    """Watcher a (2 processes) runs; b (1) does not start with the arbiter."""
    with get_arbiter([sleeper("a", numprocesses=2), sleeper("b", autostart=False)],
                     timeout=30) as arbiter:
        yield arbiter


def test_status_list_numprocesses_pids_options_and_sockets(two: BackgroundArbiter) -> None:
    status = two.status()
    assert isinstance(status, StatusResponse)
    assert status.controller.pid == os.getpid()
    assert status.controller.version == ringleader.__version__
    assert [(w.name, w.state, w.running) for w in status.watchers] == [
        ("a", "active", 2), ("b", "stopped", 0)]
    a = two.status("a")
    assert isinstance(a, WatcherInfo)
    assert [(p.wid, p.state) for p in a.processes] == [(1, "running"), (2, "running")]
    assert sorted(p.pid for p in a.processes if p.pid) == sorted(two.pids("a"))
    assert two.pids("b") == [] and sorted(two.pids()) == sorted(two.pids("a"))
    assert two.list_watchers() == WatcherList(watchers=["a", "b"])
    assert two.numprocesses("a") == 2 and two.numprocesses("b") == 1
    options = two.options("a")
    assert isinstance(options, OptionsResponse) and options.name == "a"
    assert options.options["cmd"] == "sleep 997" and options.options["numprocesses"] == 2
    assert two.options("a", "cmd", "numprocesses").options == {"cmd": "sleep 997",
                                                                "numprocesses": 2}
    assert two.list_sockets() == SocketList(sockets=[])
    # The same Structs as the API's answers: they survive its JSON round trip.
    assert msgspec.json.decode(msgspec.json.encode(status), type=StatusResponse) == status
    for call in (lambda: two.status("nope"), lambda: two.numprocesses("nope"),
                 lambda: two.options("a", "nope"), lambda: two.pids("nope")):
        with pytest.raises(NotFound):
            call()


def test_start_stop_restart_and_reload_one_watcher_or_all(two: BackgroundArbiter) -> None:
    info = two.start_watcher("b")
    assert isinstance(info, WatcherInfo) and (info.state, info.running) == ("active", 1)
    a_pids, b_pids = set(two.pids("a")), set(two.pids("b"))
    info = two.stop_watcher("a")
    assert (info.state, info.running) == ("stopped", 0) and two.pids("a") == []
    assert not any(pid_exists(p) for p in a_pids) and two.is_running
    everything = two.start_watcher()
    assert isinstance(everything, StatusResponse)
    assert [w.state for w in everything.watchers] == ["active", "active"]
    a_pids = set(two.pids("a"))
    info = two.restart("a")
    assert info.state == "active" and not a_pids & set(two.pids("a"))
    assert set(two.pids("b")) == b_pids
    info = two.reload("b")
    assert info.state == "active" and not b_pids & set(two.pids("b"))
    before = set(two.pids())
    assert [w.running for w in two.restart().watchers] == [2, 0]  # b: no autostart
    assert not before & set(two.pids())
    before = set(two.pids())
    assert isinstance(two.reload(), StatusResponse) and not before & set(two.pids())
    assert [w.state for w in two.stop_watcher().watchers] == ["stopped", "stopped"]
    assert two.pids() == [] and two.is_running


def test_incr_decr_and_set_numprocesses(two: BackgroundArbiter) -> None:
    assert two.incr("a") == 3
    assert two.incr("a", 2) == 5 and len(two.pids("a")) == 5
    highest = [p.pid for p in two.status("a").processes if p.wid > 2 and p.pid]
    assert len(highest) == 3
    assert two.decr("a", 3) == 2
    assert [p.wid for p in two.status("a").processes] == [1, 2]
    assert not any(pid_exists(p) for p in highest)
    assert two.set_numprocesses("a", 4) == 4 and len(two.pids("a")) == 4
    assert two.decr("a", 10) == 0 and two.pids("a") == []
    with pytest.raises(NotFound):
        two.incr("nope")


def test_add_and_remove_watchers(two: BackgroundArbiter) -> None:
    info = two.add_watcher(sleeper("c", numprocesses=2))
    assert isinstance(info, WatcherInfo) and (info.name, info.running) == ("c", 2)
    pids = two.pids("c")
    idle = two.add_watcher({"name": "d", "cmd": "sleep 996"}, start=False)
    assert (idle.state, idle.running) == ("stopped", 0)
    assert two.list_watchers().watchers == ["a", "b", "c", "d"]
    with pytest.raises(AlreadyExists):
        two.add_watcher(sleeper("c"))
    with pytest.raises(ConfigError, match="numprocesses"):
        two.add_watcher({"name": "e", "cmd": "sleep 1", "numprocesses": "x"})
    two.remove_watcher("c")
    assert not any(pid_exists(p) for p in pids)
    assert two.list_watchers().watchers == ["a", "b", "d"]
    with pytest.raises(NotFound):
        two.remove_watcher("c")


def test_set_options_by_dict_or_keywords(two: BackgroundArbiter) -> None:
    pids = set(two.pids("a"))
    answer = two.set_options("a", {"graceful_timeout": "3"}, stop_signal="INT")
    assert isinstance(answer, OptionsResponse)
    assert answer.options["graceful_timeout"] == 3
    assert answer.options["stop_signal"] == signal.SIGINT
    assert set(two.pids("a")) == pids  # live options: the processes stay
    two.set_options("a", cmd="sleep 996")  # a new command: replaced, one at a time
    assert not pids & set(two.pids("a")) and len(two.pids("a")) == 2
    with pytest.raises(ConfigError, match="graceful_timeout"):
        two.set_options("a", graceful_timeout="never")
    assert two.options("a", "graceful_timeout", "cmd").options == {
        "graceful_timeout": 3, "cmd": "sleep 996"}


def test_signal_by_name_number_wid_and_pid() -> None:
    with get_arbiter([{"name": "s", "cmd": SIGNALLED, "numprocesses": 2,
                       "stdout_stream": CONSOLE}], console_fd=devnull(), timeout=30) as arbiter, \
            arbiter.follow_logs("s", lines=10) as lines:
        expect(lines, {"ready 1", "ready 2"})
        assert arbiter.signal("s", "USR1") == 2
        expect(lines, {"got SIGUSR1 1", "got SIGUSR1 2"})
        assert arbiter.signal("s", signal.SIGUSR2, wid=2) == 1
        expect(lines, {"got SIGUSR2 2"})
        first = arbiter.status("s").processes[0].pid
        assert first is not None
        assert arbiter.signal("s", int(signal.SIGUSR1), pid=first) == 1
        expect(lines, {"got SIGUSR1 1"})
        with pytest.raises(NotFound, match="has no process 3"):
            arbiter.signal("s", "USR1", wid=3)
        with pytest.raises(NotFound, match="is not a process of watcher"):
            arbiter.signal("s", "USR1", pid=1)
        assert arbiter.signal("s", "KILL", wid=1) == 1  # the slot is respawned
        wait_until_sync(lambda: arbiter.status("s").processes[0].restarts == 1,
                        what="respawn after SIGKILL")


def test_stats() -> None:
    with get_arbiter([sleeper("a", numprocesses=2), sleeper("b")], timeout=30) as arbiter:
        stats = arbiter.stats()
        assert isinstance(stats, StatsResponse)
        assert [w.name for w in stats.watchers] == ["a", "b"]
        a = stats.watchers[0]
        assert sorted(p.pid for p in a.processes) == sorted(arbiter.pids("a"))
        assert all(p.rss > 0 for p in a.processes)
        assert [w.name for w in arbiter.stats("b").watchers] == ["b"]
        with pytest.raises(NotFound):
            arbiter.stats("nope")


def test_logs_and_follow_logs() -> None:
    talker = python_cmd("import os, time\n"
                        "for i in (1, 2, 3):\n"
                        "    print(f'line {i} of', os.environ['RINGLEADER_WID'], flush=True)\n"
                        "time.sleep(600)\n")
    with get_arbiter([{"name": "t", "cmd": talker, "stdout_stream": CONSOLE}],
                     console_fd=devnull(), timeout=30) as arbiter:
        wait_until_sync(lambda: len(arbiter.logs("t").lines) == 3, what="three lines")
        recent = arbiter.logs("t", 2)
        assert isinstance(recent, LogsResponse)
        assert [x.line for x in recent.lines] == ["line 2 of 1", "line 3 of 1"]
        assert all(isinstance(x, LogLine) and x.stream == "stdout" and x.wid == 1
                   for x in recent.lines)
        assert [x.line for x in arbiter.logs(None, 1).lines] == ["line 3 of 1"]
        every = arbiter.logs("t").lines
        assert len(arbiter.logs("t", since=every[0].at).lines) == 3
        assert [x.line for x in arbiter.logs("t", since=every[-1].at).lines][-1] == (
            "line 3 of 1")
        assert arbiter.logs("t", since=every[-1].at + 1).lines == []
        assert arbiter.logs("t", stream="stderr").lines == []
        assert arbiter.logs("t", wid=2).lines == []
        with pytest.raises(ValueError, match="stream must be stdout or stderr, got 'both'"):
            arbiter.logs("t", stream="both")  # type: ignore[arg-type]
        with arbiter.follow_logs("t", wid=2) as second, \
                arbiter.follow_logs("t", lines=1) as feed:
            first = feed.get(10)
            assert first is not None and first.line == "line 3 of 1"  # the backlog
            arbiter.incr("t")  # a second process talks
            assert [feed.get(10).line for _ in range(3)] == [  # type: ignore[union-attr]
                "line 1 of 2", "line 2 of 2", "line 3 of 2"]
            with pytest.raises(TimeoutError):
                feed.get(0.05)
            only = [second.get(10) for _ in range(3)]  # the filter: slot 2 only
            assert [(x.wid, x.line) for x in only if x] == [
                (2, "line 1 of 2"), (2, "line 2 of 2"), (2, "line 3 of 2")]
        assert feed.closed and feed.get(1) is None
        with pytest.raises(NotFound):
            arbiter.follow_logs("nope")


def test_events_by_iterator_and_by_callback(two: BackgroundArbiter) -> None:
    seen: list[Event] = []
    counts: list[int] = []
    got_two = threading.Event()

    def on_state(event: Event) -> None:
        seen.append(event)
        counts.append(two.numprocesses("a"))  # a callback may call the arbiter
        if len([e for e in seen if isinstance(e, ProcessStateChanged)
                and e.new == "running"]) == 2:  # a.3 and b.1
            got_two.set()

    unsubscribe = two.on_event(on_state, "process.state")
    with two.events("watcher") as events:
        two.incr("a")
        changed = events.get(10)
        assert isinstance(changed, WatcherChanged)
        assert (changed.watcher, changed.action, changed.detail) == ("a", "scaled", "2 -> 3")
        two.start_watcher("b")
        actions = [(e.watcher, e.action) for e in iter_until(events, "active")]
        assert actions == [("b", "starting"), ("b", "active")]
    assert got_two.wait(10)
    assert all(isinstance(e, ProcessStateChanged) for e in seen) and counts[-1] == 3
    unsubscribe()
    before = len(seen)
    two.incr("a")
    assert len(seen) == before  # unsubscribed: nothing more
    with two.events() as fresh, pytest.raises(TimeoutError):
        fresh.get(0.05)  # a new feed sees only what comes after it


def test_reload_config(two: BackgroundArbiter) -> None:
    a_pids = set(two.pids("a"))
    answer = two.reload_config([sleeper("a", numprocesses=3), sleeper("c")])
    assert answer == ReloadConfigResponse(added=["c"], removed=["b"], changed=[],
                                          rescaled=["a"])
    assert two.list_watchers().watchers == ["a", "c"]
    assert a_pids < set(two.pids("a")) and len(two.pids("c")) == 1
    with pytest.raises(ConfigError, match="numprocesses"):
        two.reload_config([sleeper("a", numprocesses="x")])
    assert two.list_watchers().watchers == ["a", "c"]


def test_call_runs_a_coroutine_on_the_engine(two: BackgroundArbiter) -> None:
    async def configured(arbiter: Arbiter) -> str:
        return arbiter.watcher("a").config.cmd

    assert two.call(configured) == "sleep 997"


# -- helpers --------------------------------------------------------------------------

def devnull() -> int:
    """Where console output goes in these tests (the log buffer still keeps it)."""
    fd = os.open(os.devnull, os.O_WRONLY)
    DEVNULLS.append(fd)
    return fd


DEVNULLS: list[int] = []


@pytest.fixture(autouse=True)
def close_devnulls() -> Iterator[None]:
    yield
    while DEVNULLS:
        os.close(DEVNULLS.pop())


def expect(feed: ringleader.Feed[LogLine], lines: set[str]) -> None:
    """Read the feed until every one of `lines` came (others may come between)."""
    missing = set(lines)
    while missing:
        line = feed.get(10)
        assert line is not None, f"the feed ended before {missing}"
        missing.discard(line.line)


def iter_until(feed: ringleader.Feed[Event], action: str) -> list[WatcherChanged]:
    found: list[WatcherChanged] = []
    while not found or found[-1].action != action:
        event = feed.get(10)
        assert isinstance(event, WatcherChanged)
        found.append(event)
    return found


def test_a_stop_announces_stopping_once(two: BackgroundArbiter) -> None:
    with two.events("watcher") as events:
        two.stop_watcher("a")
        actions = [e.action for e in iter_until(events, "stopped") if e.watcher == "a"]
    assert actions == ["stopping", "stopped"]
