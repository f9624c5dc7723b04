"""Child exit notification without polling and without a thread per child.

On Linux each child gets a pidfd registered with the event loop: the loop sleeps in
epoll until a child dies, and the exit wakes exactly the right callback. Elsewhere a
SIGCHLD handler (through the loop's signal wakeup fd) checks the known pids with
waitpid(pid, WNOHANG); never waitpid(-1), which would steal other code's children.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

ExitCallback = Callable[[int], None]  # receives the raw wait status


def decode_status(status: int) -> tuple[int | None, int | None]:
    """(exit_code, signal) from a wait status; exactly one of them is None."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status), None


class Reaper:
    """Calls back once per watched pid with its wait status, after reaping it."""

    __slots__ = ("_callbacks", "_fds", "_loop", "_use_pidfd")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, use_pidfd: bool | None = None) -> None:
        self._loop = loop
        self._callbacks: dict[int, ExitCallback] = {}
        self._fds: dict[int, int] = {}
        self._use_pidfd = hasattr(os, "pidfd_open") if use_pidfd is None else use_pidfd
        if not self._use_pidfd:
            loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)

    def watch(self, pid: int, callback: ExitCallback) -> None:
        """Call `callback` with the wait status once `pid` (our child) has exited and
        been reaped. OSError (e.g. EMFILE: no fd left for the pidfd) leaves nothing
        registered: the caller decides what to do with an unwatchable child."""
        if self._use_pidfd:
            # The child cannot have been reaped yet (only we reap it), so even if it
            # already died the pidfd refers to its zombie and is readable at once.
            fd = os.pidfd_open(pid)
            self._callbacks[pid] = callback
            self._fds[pid] = fd
            self._loop.add_reader(fd, self._reap, pid)
        else:
            self._callbacks[pid] = callback
            self._reap(pid)  # it may have died before the handler knew about it

    @property
    def pids(self) -> set[int]:
        """The children being watched (not yet reaped)."""
        return set(self._callbacks)

    def close(self) -> None:
        for pid in list(self._fds):
            self._forget(pid)
        if not self._use_pidfd:
            self._loop.remove_signal_handler(signal.SIGCHLD)

    def _forget(self, pid: int) -> None:
        self._callbacks.pop(pid, None)
        fd = self._fds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)

    def _on_sigchld(self) -> None:
        for pid in list(self._callbacks):
            self._reap(pid)

    def _reap(self, pid: int) -> None:
        try:
            waited, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Someone else reaped it (e.g. a foreign SIGCHLD handler): the status is
            # lost, report it as an unknown failure rather than never.
            waited, status = pid, 255 << 8
        if waited == 0:
            return
        callback = self._callbacks.get(pid)
        self._forget(pid)
        if callback is not None:
            callback(status)
