"""Ringleader inside a Python application: the engine in one background thread.

    arbiter = get_arbiter([{"cmd": "python worker.py", "numprocesses": 3}])
    arbiter.start()
    try:
        arbiter.incr("worker")
    finally:
        arbiter.stop()

Async applications use ``ringleader.Arbiter`` directly (``async with Arbiter(...)``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from ringleader.config.load import as_watcher_configs
from ringleader.config.model import ControllerConfig, WatcherConfig
from ringleader.engine.arbiter import Arbiter

T = TypeVar("T")


class BackgroundArbiter:
    """A thread-safe handle on an Arbiter whose event loop runs in a dedicated thread.

    Every method blocks the calling thread until the engine has done the work (or
    `timeout` seconds passed: TimeoutError), and re-raises the engine's errors
    (NotFound, AlreadyExists, ...).
    """

    def __init__(
        self,
        watchers: Iterable[WatcherConfig | Mapping[str, Any]],
        controller: ControllerConfig | None = None,
        *,
        console_fd: int = 1,
        use_guardian: bool = True,
        timeout: float | None = 120.0,
    ) -> None:
        # Validate in the caller's thread, so config errors raise right here.
        self._configs = as_watcher_configs(watchers)
        self._controller = controller
        self._console_fd = console_fd
        self._use_guardian = use_guardian
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._arbiter: Arbiter | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def arbiter(self) -> Arbiter:
        if self._arbiter is None:
            raise RuntimeError("the arbiter is not started")
        return self._arbiter

    def start(self) -> None:
        """Start the engine thread and every autostart watcher; returns once they run."""
        if self._thread is not None:
            raise RuntimeError("the arbiter is already started")
        started: threading.Event = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            self._arbiter = Arbiter(self._configs, self._controller,
                                    console_fd=self._console_fd,
                                    use_guardian=self._use_guardian)
            try:
                await self._arbiter.start()
            except BaseException as exc:
                failure.append(exc)
                await self._arbiter.stop()
                started.set()
                return
            started.set()
            try:
                await self._stopped.wait()
            finally:
                await self._arbiter.stop()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),),
                                        name="ringleader-engine", daemon=True)
        self._thread.start()
        if not started.wait(self.timeout):
            raise TimeoutError("the arbiter did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self) -> None:
        """Stop every process gracefully and end the engine thread. Idempotent."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(stopped.set)
        thread.join(self.timeout)
        if thread.is_alive():
            raise TimeoutError("the arbiter did not stop in time")
        self._thread = None
        self._arbiter = None

    def __enter__(self) -> BackgroundArbiter:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, factory: Callable[[Arbiter], Coroutine[Any, Any, T]]) -> T:
        arbiter, loop = self.arbiter, self._loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(factory(arbiter), loop).result(self.timeout)

    def _call(self, func: Callable[[Arbiter], T]) -> T:
        async def call(arbiter: Arbiter) -> T:
            return func(arbiter)

        return self._run(call)

    # The operations, mirroring Arbiter's.
    def incr(self, name: str, count: int = 1) -> int:
        return self._run(lambda a: a.incr(name, count))

    def decr(self, name: str, count: int = 1) -> int:
        return self._run(lambda a: a.decr(name, count))

    def set_numprocesses(self, name: str, count: int) -> int:
        return self._run(lambda a: a.set_numprocesses(name, count))

    def restart(self, name: str | None = None) -> None:
        self._run(lambda a: a.restart(name))

    def start_watcher(self, name: str | None = None) -> None:
        self._run(lambda a: a.start_watcher(name))

    def stop_watcher(self, name: str | None = None) -> None:
        self._run(lambda a: a.stop_watcher(name))

    def add_watcher(self, config: WatcherConfig | Mapping[str, Any], *, start: bool = True) -> str:
        return self._run(lambda a: a.add_watcher(config, start=start)).name

    def remove_watcher(self, name: str) -> None:
        self._run(lambda a: a.remove_watcher(name))

    def signal(self, name: str, signum: int, *, wid: int | None = None,
               children: bool = False) -> int:
        return self._run(lambda a: a.signal(name, signum, wid=wid, children=children))

    def statuses(self) -> dict[str, dict[str, Any]]:
        return self._call(lambda a: a.statuses())

    def pids(self, name: str | None = None) -> list[int]:
        return self._call(lambda a: a.pids(name))


def get_arbiter(
    watchers: Iterable[WatcherConfig | Mapping[str, Any]],
    controller: ControllerConfig | None = None,
    **options: Any,
) -> BackgroundArbiter:
    """Build a BackgroundArbiter (not started): call ``.start()``, then ``.stop()``."""
    return BackgroundArbiter(watchers, controller, **options)
