"""Sinks for captured output: the console, or nothing; a log file (shared, rotated) is
``file_sink.FileSink``.

A sink never blocks the loop and never drops data it could keep: when it cannot take more
(console pipe full, disk full) it marks itself ``blocked`` and queues the pumps that want to
write; they stop reading their pipes (so the children block on them: backpressure) until the
sink wakes them in FIFO order - on writability for the console, after a timer for a file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from ringleader.output.streams import Pump

log = logging.getLogger("ringleader.streams")

# splice() results that are not byte counts
EMPTY: Final = -1  # the pipe has nothing now
FAILED: Final = -2  # the sink failed and is now blocked
NO_SPLICE: Final = -3  # use read()/write() for this chunk


class Sink:
    """Base: the blocked flag and the FIFO of pumps waiting for the sink to take data again."""

    __slots__ = ("_resuming", "_waiters", "blocked")

    def __init__(self) -> None:
        self.blocked = False
        self._waiters: deque[Pump] = deque()
        self._resuming: Pump | None = None

    def write(self, buf: bytes, start: int, end: int) -> int:
        """Write ``buf[start:end]``; return bytes taken. 0 only when the sink is blocked."""
        raise NotImplementedError

    @property
    def shared(self) -> bool:
        """Written by several pumps (whose lines must not mix)."""
        return False

    def splice_from(self, fd: int) -> int:
        return NO_SPLICE

    def wait(self, pump: Pump) -> None:
        """Queue ``pump`` to be resumed when the sink takes data again."""
        # A pump that blocked again while being resumed may be mid-line: it stays first.
        if pump is self._resuming:
            self._waiters.appendleft(pump)
        else:
            self._waiters.append(pump)

    def _wake(self) -> None:
        self.blocked = False
        while self._waiters and not self.blocked:
            pump = self._waiters.popleft()
            self._resuming = pump
            try:
                pump._resume()
            finally:
                self._resuming = None

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self) -> int:
        """Release resources; return how many bytes waiting pumps still held (now dropped)."""
        dropped = sum(p._pending_bytes() for p in self._waiters)
        self._waiters.clear()
        return dropped


@final
class NullSink(Sink):
    __slots__ = ()

    def write(self, buf: bytes, start: int, end: int) -> int:
        return end - start


@final
class ConsoleSink(Sink):
    """The controller's output fd. A blocking fd is simply written; a non-blocking one that is
    full (EAGAIN) pauses the pumps until ``add_writer`` reports it writable."""

    __slots__ = ("_broken", "_fd", "_loop")

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken = False

    def write(self, buf: bytes, start: int, end: int) -> int:
        if self.blocked:
            return 0
        if self._broken:
            return end - start
        try:
            return os.write(self._fd, memoryview(buf)[start:end])
        except BlockingIOError:
            self.blocked = True
            self._loop = asyncio.get_running_loop()
            self._loop.add_writer(self._fd, self._on_writable)
            return 0
        except OSError as e:
            # The console is gone (EPIPE, EIO on a closed tty): there is nowhere to keep the
            # output, and children must not hang on it.
            self._broken = True
            log.error("console output failed (%s); dropping console output from now on", e)
            return end - start

    def _on_writable(self) -> None:
        if self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._wake()

    def close(self) -> int:
        if self.blocked and self._loop is not None:
            self._loop.remove_writer(self._fd)
        return super().close()
