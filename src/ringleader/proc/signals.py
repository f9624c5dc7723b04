"""Signal handling: handlers only enqueue; the loop dispatches to handle_<name>."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable

from ringleader.errors import BadArgument


class SignalQueue:
    """Routes `signals` into an asyncio queue while installed (tests can `put_nowait`
    into `queue` directly to inject a signal)."""

    __slots__ = ("_installed", "_loop", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._installed: list[signal.Signals] = []

    def install(self, signals: Iterable[signal.Signals]) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in signals:
            self._loop.add_signal_handler(sig, self.queue.put_nowait, sig)
            self._installed.append(sig)

    def restore(self) -> None:
        """Give the signals back their default disposition."""
        if self._loop is None:
            return
        for sig in self._installed:
            self._loop.remove_signal_handler(sig)
        self._installed.clear()

    async def get(self) -> signal.Signals:
        return await self.queue.get()


def signal_name(signum: int) -> str:
    """SIGTERM for 15; the number itself for a signal Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def parse_signal(value: str | int) -> int:
    """A signal as a user gives it: a number, or a name with or without SIG (TERM, sighup).
    BadArgument for a signal this system does not have."""
    if isinstance(value, bool):
        raise BadArgument(f"a signal is a name (TERM, SIGHUP) or a number, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        if 1 <= number < signal.NSIG:
            return number
        raise BadArgument(f"no such signal: {value}")
    if not isinstance(value, str):
        raise BadArgument(f"a signal is a name (TERM, SIGHUP) or a number, got "
                          f"{type(value).__name__}")
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise BadArgument(f"no such signal: {value}") from None
