"""Signal handling: handlers only enqueue; the loop dispatches to handle_<name>."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable


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
