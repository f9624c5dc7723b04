"""The BackgroundArbiter from several threads, and around its lifecycle: calls queue on
the engine's loop and add up; a stop overtaking calls ends them with NotRunning, never a
hang; calls before start() or after stop() say so; feeds and callbacks end with it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from ringleader import get_arbiter
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import HookFailed, NotRunning
from ringleader.testing import pid_exists, wait_until_sync

NULL = {"kind": "null"}


def sleeper(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": "sleep 997", "stdout_stream": NULL, "stderr_stream": NULL,
            **options}


def in_threads(count: int, target: Callable[[int], object]) -> list[BaseException]:
    """Run target(i) in `count` threads at once; the errors they raised."""
    errors: list[BaseException] = []
    go = threading.Barrier(count)

    def run(i: int) -> None:
        go.wait(10)
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    return errors


def test_calls_from_many_threads_queue_and_add_up() -> None:
    with get_arbiter([sleeper("w")], timeout=30) as arbiter:
        counts: list[int] = []

        def grow_and_look(i: int) -> None:
            for _ in range(5):
                if i % 2:
                    counts.append(arbiter.incr("w"))
                else:
                    assert arbiter.status("w").name == "w"
                    arbiter.stats("w")

        assert in_threads(6, grow_and_look) == []
        # 3 threads x 5 incr: every one counted, each answer a different count.
        assert arbiter.numprocesses("w") == 16 and sorted(counts) == list(range(2, 17))
        assert len(arbiter.pids("w")) == 16
        assert in_threads(5, lambda i: [arbiter.decr("w") for _ in range(3)]) == []
        assert arbiter.numprocesses("w") == 1 and len(arbiter.pids("w")) == 1


def test_a_stop_overtaking_calls_ends_them_with_not_running() -> None:
    arbiter = get_arbiter([sleeper("w")], timeout=30)
    arbiter.start()
    pids = arbiter.pids()
    started = threading.Barrier(5)
    outcomes: list[BaseException | None] = []

    def keep_calling(i: int) -> None:
        started.wait(10)
        try:
            while True:
                if i % 2:
                    arbiter.status()
                else:
                    arbiter.set_numprocesses("w", 1 + i)
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=keep_calling, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait(10)
    arbiter.stop()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert len(outcomes) == 4 and all(isinstance(e, NotRunning) for e in outcomes), outcomes
    assert not any(pid_exists(p) for p in pids)


def test_calls_before_start_and_after_stop_say_so() -> None:
    arbiter = get_arbiter([sleeper("w")], timeout=30)
    with pytest.raises(NotRunning, match=r"status: the arbiter is not started: call start\(\) "
                                         "first"):
        arbiter.status()
    assert not arbiter.is_running
    arbiter.start()
    assert arbiter.is_running
    with pytest.raises(NotRunning, match="already started"):
        arbiter.start()
    arbiter.stop()
    arbiter.stop()  # idempotent
    assert not arbiter.is_running
    for call in (arbiter.status, lambda: arbiter.incr("w"), arbiter.start,
                 lambda: arbiter.events()):
        with pytest.raises(NotRunning, match="the arbiter was stopped: create a new one"):
            call()
    assert isinstance(NotRunning("x"), RuntimeError)


def test_a_stop_before_start_leaves_nothing_to_start() -> None:
    arbiter = get_arbiter([sleeper("w")])
    arbiter.stop()
    with pytest.raises(NotRunning, match="was stopped"):
        arbiter.start()


def test_a_call_from_the_engine_thread_raises_instead_of_waiting_for_itself() -> None:
    with get_arbiter([sleeper("w")], timeout=30) as arbiter:
        async def nested(engine: Arbiter) -> str:
            try:
                arbiter.status()
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert "called from the engine's own thread" in arbiter.call(nested)


def test_feeds_and_callbacks_end_when_the_arbiter_stops() -> None:
    arbiter = get_arbiter([sleeper("w")], timeout=30)
    arbiter.start()
    events, logs = arbiter.events(), arbiter.follow_logs()
    ended = threading.Event()
    received: list[object] = []

    def read_all() -> None:
        received.extend(events)  # blocks until the feed ends
        ended.set()

    reader = threading.Thread(target=read_all)
    reader.start()
    callback_threads = {t for t in threading.enumerate()}
    arbiter.on_event(lambda e: None)
    dispatchers = {t for t in threading.enumerate()} - callback_threads
    arbiter.stop()
    assert ended.wait(10)
    reader.join(10)
    assert received  # the stop's own events came first
    assert logs.get(1) is None and logs.closed
    assert not any(t.is_alive() for t in dispatchers)  # stop() waited for them


def test_a_start_that_fails_raises_and_leaves_no_worker() -> None:
    arbiter = get_arbiter([
        sleeper("first", priority=10),
        sleeper("second", hooks={"before_start": {"target": "false", "kind": "shell"}}),
    ], timeout=30)
    threads = set(threading.enumerate())
    with pytest.raises(HookFailed, match="before_start"):
        arbiter.start()
    wait_until_sync(lambda: set(threading.enumerate()) <= threads, what="the engine thread")
    with pytest.raises(NotRunning, match="was stopped"):
        arbiter.status()
