"""circus's ``on_demand``: a watcher that starts on the first connection to one of its
sockets, not with the controller.

While such a watcher is stopped, the loop watches its listening sockets (``add_reader``:
a pending connection, or a datagram, makes one readable; nothing is accepted here, the
workers accept it once started); the first readiness starts the watcher. It is armed again
whenever the watcher stops (as circus does: a stopped on-demand watcher comes back with the
next connection), never while the controller itself stops. A start its before_start hook
refused arms it again too, when the watcher's respawn policy says (the connection that
asked is still waiting: re-armed at once, it would start it again at once, and again); a
give-up leaves it to an operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ringleader.config.model import WatcherConfig
from ringleader.lifecycle.events import Event, EventBus, WatcherChanged
from ringleader.policy.respawn import RespawnPolicy, make_policy

if TYPE_CHECKING:
    from ringleader.features.sockets import SocketSet

log = logging.getLogger("ringleader.arbiter")


class OnDemand:
    """One per arbiter; idle (no bus listener, no reader) until an on-demand watcher
    comes."""

    __slots__ = ("_bus", "_configs", "_fds", "_going", "_loop", "_policies", "_retries",
                 "_sockets", "_start", "_tasks", "_unsubscribe", "closed")

    def __init__(self, bus: EventBus, start: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        self._bus = bus
        self._start = start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: SocketSet | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._configs: dict[str, WatcherConfig] = {}  # the on-demand watchers, by name
        self._fds: dict[int, set[str]] = {}  # socket fd -> armed watchers waiting on it
        self._tasks: set[asyncio.Task[None]] = set()
        # Starts refused before the watcher got going: when to arm it again.
        self._policies: dict[str, RespawnPolicy] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._going: set[str] = set()  # watchers that reached "starting" since asked
        self.closed = False

    def track(self, config: WatcherConfig, loop: asyncio.AbstractEventLoop,
              sockets: SocketSet | None) -> None:
        """Follow `config` (a watcher, on demand or no longer): armed now if it is."""
        if sockets is None or (self._unsubscribe is None and not config.on_demand):
            return
        if self._unsubscribe is None:
            self._loop, self._sockets, self.closed = loop, sockets, False
            self._unsubscribe = self._bus.subscribe(self.on_event)
        self.disarm(config.name)
        self._configs.pop(config.name, None)
        if config.on_demand:
            self._configs[config.name] = config
            self.arm(config.name)

    def forget(self, name: str) -> None:
        self.disarm(name)
        self._configs.pop(name, None)
        self._policies.pop(name, None)
        self._going.discard(name)

    def arm(self, name: str) -> None:
        config = self._configs.get(name)
        if config is None or self.closed or self._loop is None or self._sockets is None:
            return
        for sock in self._sockets.for_watcher(True, config.sockets):
            waiting = self._fds.setdefault(sock.fd, set())
            if not waiting:
                self._loop.add_reader(sock.fd, self._ready, sock.fd)
            waiting.add(name)

    def disarm(self, name: str) -> None:
        retry = self._retries.pop(name, None)
        if retry is not None:
            retry.cancel()
        for fd, waiting in list(self._fds.items()):
            waiting.discard(name)
            if not waiting and self._loop is not None:
                self._loop.remove_reader(fd)
                del self._fds[fd]

    def on_event(self, event: Event) -> None:
        """A bus listener: disarm when a watcher starts (by any way), arm when it stopped."""
        if not isinstance(event, WatcherChanged) or event.watcher not in self._configs:
            return
        if event.action == "starting":
            self.disarm(event.watcher)
            self._going.add(event.watcher)
            self._policies.pop(event.watcher, None)  # it got going: the history is over
        elif event.action == "stopped":
            self.arm(event.watcher)

    def _ready(self, fd: int) -> None:
        assert self._loop is not None
        for name in sorted(self._fds.get(fd, ())):
            self.disarm(name)
            log.info("watcher %s: a connection is waiting on its socket: starting it "
                     "(on_demand)", name)
            task = self._loop.create_task(self._start_asked(name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_asked(self, name: str) -> None:
        self._going.discard(name)
        try:
            await self._start(name)
        except Exception as exc:  # any failure: logged, and maybe tried again
            log.error("watcher %s: on-demand start failed: %s", name, exc)
            if name not in self._going:
                # Refused before it got going: nothing else arms it again. (Once going,
                # the watcher is active and its processes are with the respawn policy,
                # or it was stopped meanwhile, which armed it.)
                self._arm_later(name)

    def _arm_later(self, name: str) -> None:
        config = self._configs.get(name)
        if config is None or self.closed or self._loop is None:
            return
        policy = self._policies.get(name)
        if policy is None:
            policy = self._policies[name] = make_policy(config.flapping, config.backoff)
        decision = policy.on_spawn_failure(self._loop.time(), "start refused")
        if decision.action == "give_up":
            log.error("watcher %s: %s: not armed again (start it to try again)", name,
                      decision.reason)
        elif decision.delay > 0:
            log.warning("watcher %s: %s: armed again then (on_demand)", name,
                        decision.reason)
            self._retries[name] = self._loop.call_later(decision.delay, self._rearm, name)
        else:
            self.arm(name)  # its reader fires from the loop, never from here

    def _rearm(self, name: str) -> None:
        self._retries.pop(name, None)
        self.arm(name)

    async def close(self) -> None:
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for name in list(self._configs):
            self.disarm(name)
        self._configs.clear()
        self._policies.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
