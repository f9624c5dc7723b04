"""Following a long console operation through the controller's events.

- `EventFeed` reads the `events` stream on a connection of its own, in a thread, into a
  queue the main thread waits on with a deadline (the stream itself has no timeout);
- `Activity` is the pure view of what the processes in scope are doing, fed by those events;
- `with_progress` runs an API call while a terminal shows one line, rewritten in place, of
  that activity (`stop web: 3 stopping, 1 running (4s)`), as `up` does while it starts.
  Nothing extra when stderr is not a terminal or with --json.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time

from ringleader.api.client import Client

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, TextIO, TypeVar

    T = TypeVar("T")

# the order states are listed in; a process in a state not listed here has no OS process
LIVE = ("starting", "running", "stopping")
PARKED = ("backoff", "flapping", "failed")
GONE = ("stopped", "exited")
TICK = 1.0  # seconds between two redraws while nothing happens (the elapsed time moves)


class EventFeed:
    """The controller's events with topics starting with `topics`, as ("event", data) items
    on `items` (with ("end", None) when the stream ends). Subscribed once `__enter__` has
    returned: an action asked for after that cannot slip its events past the feed."""

    def __init__(self, client: Client, topics: Iterable[str],
                 items: queue.SimpleQueue[tuple[str, Any]] | None = None) -> None:
        self._client = client
        self._topics = list(topics)
        self.items: queue.SimpleQueue[tuple[str, Any]] = items or queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EventFeed:
        stream = self._client.stream("events", query={"topic": self._topics})
        self._thread = threading.Thread(target=self._read, args=(stream,),
                                        name="event-feed", daemon=True)
        self._thread.start()
        return self

    def _read(self, stream: Iterable[tuple[str, Any]]) -> None:
        try:
            for _event, data in stream:
                self.items.put(("event", data))
        except Exception:  # cut off or cancelled: the feed just ends
            pass
        self.items.put(("end", None))

    def get(self, timeout: float) -> tuple[str, Any] | None:
        """The next item, or None after `timeout` seconds without one."""
        try:
            return self.items.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def __exit__(self, *exc: object) -> None:
        self._client.cancel_streams()
        if self._thread is not None:
            self._thread.join(5)
        self._client.close()


class Activity:
    """What the processes of the watchers in scope (None: all) are doing, from a status
    answer and the `process.state` events after it."""

    def __init__(self, label: str, status: Mapping[str, Any],
                 scope: str | None = None) -> None:
        self.label = label
        self.scope = scope
        # watcher -> {pid: state of a live process, -wid: state of a parked slot}
        self.states: dict[str, dict[int, str]] = {}
        for w in status.get("watchers", []):
            if scope is None or w["name"] == scope:
                slots = self.states.setdefault(w["name"], {})
                for p in w.get("processes", []):
                    if p.get("pid"):
                        slots[p["pid"]] = p["state"]
                    elif p.get("state") in PARKED:
                        slots[-p["wid"]] = p["state"]

    def feed(self, event: Mapping[str, Any]) -> None:
        data = event.get("data") or {}
        name, new = data.get("watcher"), data.get("new")
        if not isinstance(name, str) or not isinstance(new, str) or (
                self.scope is not None and name != self.scope):
            return
        slots = self.states.setdefault(name, {})
        pid, wid = data.get("pid"), data.get("wid")
        if isinstance(wid, int):
            slots.pop(-wid, None)  # a parked slot moves on, whatever to
            if new in PARKED:
                slots[-wid] = new
        if isinstance(pid, int) and pid > 0:
            if new in LIVE:
                slots[pid] = new
            else:
                slots.pop(pid, None)

    def line(self, elapsed: float) -> str:
        parts = []
        for name, slots in sorted(self.states.items()):
            counts = {s: 0 for s in (*LIVE, *PARKED)}
            for state in slots.values():
                counts[state] = counts.get(state, 0) + 1
            shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no process"
            parts.append(shown if self.scope is not None else f"{name} {shown}")
        return f"{self.label}: {'; '.join(parts) or 'no watcher'} ({int(elapsed)}s)"


class Line:
    """One status line on a terminal, rewritten in place and cut to its width."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def show(self, text: str) -> None:
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            width = 0
        width = width or 80  # a terminal that does not say its size
        self.stream.write("\r\x1b[K" + text[: max(width - 1, 10)])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def wants_progress(as_json: bool, stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return not as_json and stream.isatty()
    except (AttributeError, ValueError):
        return False


def with_progress(call: Callable[[], T], client: Client, feed_client: Client, label: str,
                  scope: str | None) -> T:
    """`call()` (an API call on `client`) in a worker thread while this thread shows the
    activity line on stderr; its result, or its exception raised here."""
    items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    activity = Activity(label, client.call("status"), scope)
    line = Line(sys.stderr)
    start = time.monotonic()
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(("ok", call()))
        except BaseException as exc:  # handed to the main thread, which raises it
            outcome.append(("error", exc))
        items.put(("done", None))

    with EventFeed(feed_client, ("process.state",), items):
        threading.Thread(target=work, name="console-call", daemon=True).start()
        try:
            line.show(activity.line(0))
            while True:
                try:
                    kind, data = items.get(timeout=TICK)
                except queue.Empty:
                    kind, data = "tick", None
                if kind == "done":
                    break
                if kind == "event":
                    activity.feed(data)
                line.show(activity.line(time.monotonic() - start))
        finally:
            line.clear()
    kind, value = outcome[0]
    if kind == "error":
        raise value
    result: T = value
    return result
