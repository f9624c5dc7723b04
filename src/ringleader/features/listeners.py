"""supervisord's event listeners: a watcher with ``events`` is a pool of listeners, each
speaking supervisord's protocol on its stdin and stdout.

A listener writes ``READY\\n``; the controller then writes one event (a header line, then
``len`` bytes of payload) to its stdin; the listener answers ``RESULT N\\n`` and N bytes,
``OK`` (done) or ``FAIL`` (the event goes back to the head of the buffer and is sent
again), then ``READY\\n`` for the next. Anything else, or data while READY, puts it in the
UNKNOWN state: it gets no more events (as supervisord does). Each pool buffers
``buffer_size`` events; past that the oldest is dropped, with an error in the log. Only a
listener in the ``running`` state gets events, so the buffer waits for one.

One ``EventHub`` per arbiter turns the bus's events into supervisord's (numbered with one
serial for the controller) and hands each to the pools subscribed to it; it also sends
TICK_5/60/3600 when a pool wants them. Reads and writes are callbacks on the loop, no task
per listener.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Final

from ringleader.features.supervisor_events import (
    TICK_PERIODS,
    StateNames,
    SupervisorEvent,
    envelope,
    subscribed,
    tick_event,
)
from ringleader.lifecycle.events import (
    Event,
    EventBus,
    ProcessExited,
    ProcessStateChanged,
    WatcherChanged,
)
from ringleader.lifecycle.views import WatcherView

log = logging.getLogger("ringleader.listeners")

__all__ = ["EventHub", "ListenerPool"]

_READY: Final = b"READY\n"
_RESULT: Final = b"RESULT "
_MAX_RESULT: Final = 1 << 16  # a longer result is a protocol violation
Queued = tuple[SupervisorEvent, int]  # an event and its pool serial


class _Listener:
    """One listener process of a pool: its stdin (written), its stdout (parsed)."""

    __slots__ = (
        "_in",
        "_out",
        "_pending",
        "_pool",
        "_received",
        "_result_len",
        "event",
        "pid",
        "state",
        "wid",
    )

    def __init__(self, pool: ListenerPool, wid: int, pid: int, stdin: int,
                 stdout: int) -> None:
        self._pool = pool
        self.wid, self.pid = wid, pid
        self._in, self._out = stdin, stdout
        os.set_blocking(stdin, False)
        os.set_blocking(stdout, False)
        self.state = "ACKNOWLEDGED"  # until it says READY
        self.event: Queued | None = None  # sent, not yet answered
        self._received = b""
        self._result_len: int | None = None
        self._pending = b""  # envelope bytes the pipe did not take yet
        pool.loop.add_reader(stdout, self._on_readable)

    def send(self, data: bytes) -> None:
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            n = os.write(self._in, self._pending)
        except BlockingIOError:
            n = 0
        except OSError:  # EPIPE: it is gone; the exit rebuffers the event
            self._pending = b""
            return
        self._pending = self._pending[n:]
        loop = self._pool.loop
        if self._pending:
            loop.add_writer(self._in, self._flush)
        else:
            loop.remove_writer(self._in)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._out, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._pool.loop.remove_reader(self._out)
            return
        self._received += data
        self._parse()

    def _parse(self) -> None:
        while self._received and self.state != "UNKNOWN":
            if self.state == "ACKNOWLEDGED":
                if len(self._received) < len(_READY):
                    return
                if not self._received.startswith(_READY):
                    return self._violation("expected READY")
                self._received = self._received[len(_READY):]
                self.state = "READY"
                self._pool.dispatch()
            elif self.state == "READY":
                return self._violation("wrote while waiting for an event")
            elif self._result_len is None:  # BUSY: the RESULT line first
                line, nl, rest = self._received.partition(b"\n")
                if not nl:
                    if len(self._received) > 64:
                        self._violation("expected RESULT N")
                    return
                size = line[len(_RESULT):]
                if not line.startswith(_RESULT) or not size.isdigit() or \
                        int(size) > _MAX_RESULT:
                    return self._violation(f"bad result line {line[:40]!r}")
                self._received, self._result_len = rest, int(size)
            else:
                if len(self._received) < self._result_len:
                    return
                result = self._received[:self._result_len]
                self._received = self._received[self._result_len:]
                self._result_len = None
                self._answered(result)

    def _answered(self, result: bytes) -> None:
        queued, self.event = self.event, None
        self.state = "ACKNOWLEDGED"
        if result != b"OK" and queued is not None:  # FAIL (or anything else): sent again
            log.warning("%s: event %d was rejected (%r): it will be sent again",
                        self._pool.process_name(self.wid), queued[0].serial, result[:40])
            self._pool.requeue(queued)

    def _violation(self, why: str) -> None:
        log.warning("%s: has entered the UNKNOWN state and will no longer receive events "
                    "(it violated the event listener protocol: %s)",
                    self._pool.process_name(self.wid), why)
        self.state = "UNKNOWN"
        self._received = b""
        queued, self.event = self.event, None
        if queued is not None:
            self._pool.requeue(queued)

    def close(self) -> Queued | None:
        """The process exited: stop reading and writing; the event in flight, if any."""
        loop = self._pool.loop
        loop.remove_reader(self._out)
        loop.remove_writer(self._in)
        for fd in (self._in, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)
        queued, self.event = self.event, None
        self.state = "UNKNOWN"
        return queued


class ListenerPool:
    """A watcher's listeners (supervisord's EventListenerPool)."""

    def __init__(self, name: str, events: list[str], buffer_size: int,
                 loop: asyncio.AbstractEventLoop, running: Callable[[int], bool],
                 names: Callable[[int], str]) -> None:
        self.name = name
        self.events = frozenset(events)
        self.loop = loop
        self.buffer: collections.deque[Queued] = collections.deque()
        self.buffer_size = buffer_size
        self.serial = -1  # the pool's own serial (poolserial)
        self._running = running  # whether slot wid is in the running state
        self.process_name = names
        self._listeners: dict[int, _Listener] = {}

    def wants(self, event_name: str) -> bool:
        return subscribed(event_name, self.events)

    def accept(self, event: SupervisorEvent) -> None:
        self.serial += 1
        self._buffer((event, self.serial), head=False)

    def requeue(self, queued: Queued) -> None:
        """An event sent but not processed (FAIL, a protocol error, the listener died):
        first in line again, with its serials."""
        self._buffer(queued, head=True)

    def _buffer(self, queued: Queued, *, head: bool) -> None:
        if len(self.buffer) >= self.buffer_size:
            dropped, _ = self.buffer.popleft()
            log.error("pool %s event buffer overflowed, discarding event %d", self.name,
                      dropped.serial)
        if head:
            self.buffer.appendleft(queued)
        else:
            self.buffer.append(queued)
        self.dispatch()

    def dispatch(self) -> None:
        """Send buffered events, oldest first, to listeners that are READY and running."""
        while self.buffer:
            listener = next((lst for wid, lst in sorted(self._listeners.items())
                             if lst.state == "READY" and self._running(wid)), None)
            if listener is None:
                return
            queued = self.buffer.popleft()
            listener.state, listener.event = "BUSY", queued
            listener.send(envelope(queued[0], self.name, queued[1]))

    def attach(self, wid: int, pid: int, stdin: int, stdout: int) -> None:
        """A listener process started: the controller's ends of its stdin and stdout."""
        self.detach(wid)
        self._listeners[wid] = _Listener(self, wid, pid, stdin, stdout)

    def detach(self, wid: int) -> None:
        """Its process exited: an event it had not answered goes back to the buffer."""
        listener = self._listeners.pop(wid, None)
        if listener is not None:
            queued = listener.close()
            if queued is not None:
                self.requeue(queued)

    def close(self) -> None:
        for wid in list(self._listeners):
            listener = self._listeners.pop(wid)
            listener.close()
        self.buffer.clear()


class EventHub:
    """The arbiter's source of supervisord events for its listener pools."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bus: EventBus,
                 watchers: Callable[[], Mapping[str, WatcherView]]) -> None:
        self._loop = loop
        self._bus = bus
        self._watchers = watchers  # the arbiter's, by name
        self._pools: dict[str, ListenerPool] = {}
        self._states = StateNames()
        self._serial = -1
        self._exits: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._ticks: dict[int, int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add_pool(self, pool: ListenerPool) -> None:
        self._pools[pool.name] = pool
        if self._unsubscribe is None:
            self._unsubscribe = self._bus.subscribe(self._on_event)
        if self._timer is None and any(pool.wants(f"TICK_{p}") for p in TICK_PERIODS):
            now = time.time()
            self._ticks = {p: int(now - now % p) for p in TICK_PERIODS}
            self._schedule_tick(now)

    def remove_pool(self, name: str) -> None:
        pool = self._pools.pop(name, None)
        if pool is not None:
            pool.close()
        if not self._pools:
            self.close()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def publish(self, name: str, payload: str) -> None:
        pools = [p for p in self._pools.values() if p.wants(name)]
        if not pools:
            return
        event = SupervisorEvent(name, payload, self._next_serial())
        for pool in pools:
            pool.accept(event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ProcessExited):
            self._exits[(event.watcher, event.wid)] = (event.exit_code, event.signal)
        elif isinstance(event, ProcessStateChanged):
            self._state_changed(event)
        elif isinstance(event, WatcherChanged) and event.action in ("added", "removed"):
            if event.action == "removed":
                self._states.forget(event.watcher)
            self.publish(f"PROCESS_GROUP_{event.action.upper()}",
                         f"groupname:{event.watcher}\n")

    def _state_changed(self, event: ProcessStateChanged) -> None:
        key = (event.watcher, event.wid)
        watcher = self._watchers().get(event.watcher)
        proc = watcher.processes.get(event.wid) if watcher is not None else None
        if watcher is None or proc is None:
            return
        code, sig = self._exits.get(key, (None, None))
        expected = sig is None and code in watcher.config.exit_codes
        for name, payload in self._states.change(key, event.old, event.new, process=proc.name,
                                                 group=watcher.group or watcher.name,
                                                 pid=event.pid, expected=expected):
            self.publish(name, payload)
        pool = self._pools.get(event.watcher)
        if pool is not None and event.new == "running":
            pool.dispatch()  # a listener may now get what waited in the buffer

    def _schedule_tick(self, now: float) -> None:
        wake = min(t + p for p, t in self._ticks.items()) - now
        self._timer = self._loop.call_later(max(wake, 0.01), self._tick)

    def _tick(self) -> None:
        now = time.time()  # wall clock: the `when` of a TICK is a timestamp
        for period in TICK_PERIODS:
            this = int(now - now % period)
            if this != self._ticks[period]:
                self._ticks[period] = this
                self.publish(*tick_event(period, now))
        self._schedule_tick(now)
