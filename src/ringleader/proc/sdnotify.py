"""sd_notify(3) for the controller itself: what it tells the service manager that started it.

The sender side (``features.notify`` is the receiver the workers talk to). systemd hands
the address in ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace) and, with
``WatchdogSec=``, the ping interval in ``$WATCHDOG_USEC`` (for the pid in ``$WATCHDOG_PID``
when set). Every datagram goes out through one non-blocking socket: a full or missing
receiver is a debug line, never a wait and never a crash of the controller.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

log = logging.getLogger("ringleader.sdnotify")

STATUS_INTERVAL: Final = 1.0  # seconds: at most one STATUS= update per interval
MAX_STATUS: Final = 200  # characters of the one-line summary


def notify_address(value: str) -> str | None:
    """The socket address in ``$NOTIFY_SOCKET``: an absolute path, or ``@name`` for the
    abstract namespace (returned with its leading NUL); None for anything else."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between two WATCHDOG=1 pings (half of ``$WATCHDOG_USEC``), or None when no
    watchdog is asked of this process (unset, not a positive number, or meant for another
    pid)."""
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


def summary(watchers: Iterable[Mapping[str, Any]]) -> str:
    """One line for ``STATUS=`` from the watchers' status (the API's WatcherInfo shape):
    "3 watchers, 2 active, 1 failed; 5/6 processes running"."""
    states: dict[str, int] = {}
    running = wanted = count = 0
    for w in watchers:
        count += 1
        state = str(w.get("state", "?"))
        states[state] = states.get(state, 0) + 1
        running += int(w.get("running", 0))
        if w.get("desired") == "running":
            wanted += int(w.get("numprocesses", 0))
    parts = [f"{count} watcher{'s' if count != 1 else ''}"]
    parts += [f"{n} {state}" for state, n in sorted(states.items())]
    return (", ".join(parts) + f"; {running}/{wanted} processes running")[:MAX_STATUS]


class SdNotifier:
    """Sends sd_notify messages to `address` (see ``from_environ``)."""

    __slots__ = ("_address", "_last_status", "_pending", "_sent_at", "_sock", "_stopping",
                 "_timer", "_watchdog", "_watchdog_every")

    def __init__(self, address: str, *, watchdog_every: float | None = None) -> None:
        self._address = address
        self._sock = socket.socket(socket.AF_UNIX,
                                   socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        self._watchdog_every = watchdog_every
        self._watchdog: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pending: Callable[[], str] | None = None
        self._last_status = ""
        self._sent_at = -STATUS_INTERVAL
        self._stopping = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SdNotifier | None:
        """A notifier when ``$NOTIFY_SOCKET`` names a socket, else None (not under a service
        manager that listens)."""
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        if not raw:
            return None
        address = notify_address(raw)
        if address is None:
            log.warning("NOTIFY_SOCKET=%r is neither an absolute path nor @name: ignored", raw)
            return None
        return cls(address, watchdog_every=watchdog_interval(env, os.getpid()))

    @property
    def watchdog_every(self) -> float | None:
        return self._watchdog_every

    def send(self, message: str) -> bool:
        """Send one datagram (``KEY=VALUE`` lines); False when it could not be sent."""
        try:
            self._sock.sendto(message.encode("utf-8", "replace"), self._address)
        except OSError as exc:  # no receiver, its queue full (EAGAIN), the socket closed...
            log.debug("sd_notify %r not sent: %s", message.split("\n", 1)[0], exc)
            return False
        return True

    def ready(self, status: str) -> None:
        if self._stopping:  # a reload ended by a stop: the stop is what is true
            return
        self._last_status = status
        self._sent_at = time.monotonic()
        self.send(f"READY=1\nSTATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading the config")

    def stopping(self) -> None:
        """Once; the watchdog keeps pinging: stopping slow workers may take longer than it."""
        if self._stopping:
            return
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.send("STOPPING=1\nSTATUS=stopping")

    def status(self, describe: Callable[[], str]) -> None:
        """Something changed: update ``STATUS=`` with what `describe` says, at once when the
        last update is older than STATUS_INTERVAL, else once at the end of that interval
        (so a burst of changes costs one `describe`); an unchanged text is not sent again."""
        self._pending = describe
        if self._timer is not None or self._stopping:
            return
        wait = self._sent_at + STATUS_INTERVAL - time.monotonic()
        if wait <= 0:
            self._flush_status()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self._flush_status)

    def _flush_status(self) -> None:
        self._timer = None
        describe, self._pending = self._pending, None
        if describe is None:
            return
        self._sent_at = time.monotonic()  # also limits the describe() calls
        text = describe()
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def start_watchdog(self) -> None:
        """Ping WATCHDOG=1 every half ``$WATCHDOG_USEC`` from the loop: a loop that hangs
        stops the pings, and systemd restarts the controller."""
        if self._watchdog_every is None or self._watchdog is not None:
            return
        self._ping()

    def _ping(self) -> None:
        assert self._watchdog_every is not None
        self.send("WATCHDOG=1")
        self._watchdog = asyncio.get_running_loop().call_later(self._watchdog_every,
                                                               self._ping)

    def close(self) -> None:
        for timer in (self._watchdog, self._timer):
            if timer is not None:
                timer.cancel()
        self._watchdog = self._timer = None
        self._sock.close()
