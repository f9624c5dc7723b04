"""The engine in a thread of its own: one event loop running one Arbiter, and the one
thread-safe door into it for the application's threads.

Every call becomes a task on that loop, created there (``call_soon_threadsafe``): the
engine stays single-threaded, calls from several threads queue on the loop, and a call
that the arbiter's stop overtakes ends with NotRunning instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ringleader.engine.arbiter import Arbiter
from ringleader.errors import NotRunning
from ringleader.library.feeds import Feed, FeedBuffer, dispatch

log = logging.getLogger("ringleader.library")

T = TypeVar("T")

# How long stop() waits for event callbacks still running to return.
_DISPATCH_JOIN = 5.0


class Phase(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class EngineThread:
    """Runs `arbiter` (not started yet) on a private loop in a daemon thread. Never holds
    the BackgroundArbiter that owns it, so that one's finalizer can stop this."""

    def __init__(self, arbiter: Arbiter, timeout: float | None) -> None:
        self._new_arbiter: Arbiter | None = arbiter
        self.timeout = timeout
        self._lock = threading.Lock()  # guards everything below
        self._phase = Phase.NEW
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arbiter: Arbiter | None = None
        self._stop_event: asyncio.Event | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._feeds: set[FeedBuffer[Any]] = set()
        self._dispatchers: set[threading.Thread] = set()
        # Set on the loop once the arbiter has stopped: calls arriving later are refused
        # rather than started as tasks the loop's end would leave pending.
        self._loop_ending = False
        self._tasks: set[asyncio.Task[Any]] = set()  # the calls running (loop thread only)

    @property
    def phase(self) -> Phase:
        with self._lock:
            return self._phase

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._phase is not Phase.NEW:
                raise NotRunning("the arbiter was stopped: create a new one with get_arbiter()"
                                 if self._phase is Phase.STOPPED
                                 else "the arbiter is already started")
            self._phase = Phase.STARTING
        started = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(target=self._thread_main, args=(started, failure),
                                  name="ringleader-engine", daemon=True)
        self._thread = thread
        thread.start()
        if not started.wait(self.timeout):
            self._request_stop()  # it stops once its start is over
            raise TimeoutError(f"the arbiter did not start within {self.timeout:g} s; "
                               "it is being stopped")
        if failure:
            thread.join()
            raise failure[0]

    def stop(self) -> None:
        """Graceful stop of every worker, then the end of the thread. Idempotent."""
        if not self._request_stop():
            return
        thread = self._thread
        if thread is threading.current_thread():
            return  # (a finalizer run on the loop) it stops once this callback returns
        if thread is not None:
            thread.join(self.timeout)
            if thread.is_alive():
                raise TimeoutError(f"the arbiter did not stop within {self.timeout:g} s")
        with self._lock:
            dispatchers = list(self._dispatchers)
        for d in dispatchers:
            if d is not threading.current_thread():
                d.join(_DISPATCH_JOIN)

    def stop_quietly(self) -> None:
        """stop() for the finalizer and at exit: errors are logged, never raised."""
        try:
            self.stop()
        except Exception:
            log.exception("could not stop the arbiter")

    def _request_stop(self) -> bool:
        """Ask the loop to stop the arbiter; False if there is nothing to stop."""
        with self._lock:
            if self._phase is Phase.NEW:
                self._phase = Phase.STOPPED
                return False
            if self._phase is Phase.STOPPED:
                return True  # the thread may still be finishing: join it
            self._phase = Phase.STOPPING
            loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(event.set)
        return True

    def _thread_main(self, started: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._main(started, failure))
        except BaseException as exc:  # the loop itself failed: tell start()
            if not started.is_set():
                failure.append(exc)
            else:
                log.exception("the engine thread failed")
        finally:
            with self._lock:
                self._phase = Phase.STOPPED
                pending, feeds = list(self._pending), list(self._feeds)
            # Calls the loop never ran, and feeds, end here rather than wait forever.
            for future in pending:
                if not future.cancel() and not future.done():
                    future.set_exception(NotRunning("the arbiter stopped before it was done"))
            for feed in feeds:
                feed.end()
            started.set()

    async def _main(self, started: threading.Event, failure: list[BaseException]) -> None:
        stop_event = asyncio.Event()
        arbiter, self._new_arbiter = self._new_arbiter, None
        assert arbiter is not None
        with self._lock:
            self._loop, self._arbiter, self._stop_event = (
                asyncio.get_running_loop(), arbiter, stop_event)
            if self._phase is Phase.STOPPING:  # stop() came before the loop existed
                stop_event.set()
        try:
            await arbiter.start()
        except BaseException as exc:
            failure.append(exc)
            await arbiter.stop()
            self._loop_ending = True
            return
        finally:
            with self._lock:
                if self._phase is Phase.STARTING and not failure:
                    self._phase = Phase.RUNNING
            started.set()
        try:
            await stop_event.wait()
        finally:
            await arbiter.stop()
            self._loop_ending = True

    # -- calls ----------------------------------------------------------------------------

    def run(self, what: str, func: Callable[[Arbiter], Awaitable[T]], *,
            reads_only: bool = False) -> T:
        """Run `func(arbiter)` on the loop and wait for its result (or error)."""

        async def call(arbiter: Arbiter) -> T:
            return await func(arbiter)

        return self._submit(what, call, reads_only)

    def query(self, what: str, func: Callable[[Arbiter], T]) -> T:
        """Call `func(arbiter)` on the loop (it reads state only the loop may touch)."""

        async def call(arbiter: Arbiter) -> T:
            return func(arbiter)

        return self._submit(what, call, True)

    def _submit(self, what: str, call: Callable[[Arbiter], Coroutine[Any, Any, T]],
                reads_only: bool) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{what}: called from the engine's own thread, where it would "
                               "wait for itself; use the async Arbiter there")
        # While the arbiter stops, it still answers questions (event callbacks watching
        # the shutdown ask them), but takes no more orders.
        allowed = (Phase.RUNNING, Phase.STOPPING) if reads_only else (Phase.RUNNING,)
        with self._lock:
            if self._phase not in allowed or self._loop is None or self._arbiter is None:
                raise NotRunning(f"{what}: {self._why_not()}")
            loop, arbiter = self._loop, self._arbiter
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._pending.add(future)
        future.add_done_callback(self._forget_future)

        def begin() -> None:
            # On the loop. The coroutine is made here, not in the caller's thread: a call
            # the loop never gets to leaves no coroutine behind un-awaited.
            if not future.set_running_or_notify_cancel():
                return
            if self._loop_ending:
                future.set_exception(NotRunning(f"{what}: the arbiter stopped before it "
                                                "was done"))
                return
            task = loop.create_task(call(arbiter))
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda done: _settle(future, done, what))

        try:
            loop.call_soon_threadsafe(begin)
        except RuntimeError:  # the loop closed meanwhile
            future.cancel()
        try:
            return future.result(self.timeout)
        except concurrent.futures.CancelledError:
            raise NotRunning(f"{what}: the arbiter stopped before it was done") from None
        except TimeoutError:
            if future.done():  # the engine's own TimeoutError
                raise
            raise TimeoutError(f"{what} did not finish within {self.timeout:g} s (it goes on "
                               "in the engine)") from None

    def _why_not(self) -> str:
        return {
            Phase.NEW: "the arbiter is not started: call start() first (or use it in a "
                       "with block)",
            Phase.STARTING: "the arbiter is still starting",
            Phase.STOPPING: "the arbiter is stopping",
        }.get(self._phase, "the arbiter was stopped: create a new one with get_arbiter()")

    def _forget_future(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    # -- feeds ----------------------------------------------------------------------------

    def open_feed(self, what: str, source: Callable[[Arbiter], AsyncIterator[T]]) -> Feed[T]:
        """A Feed of what `source(arbiter)` yields, subscribed before this returns."""

        def begin(arbiter: Arbiter) -> FeedBuffer[T]:
            buffer: FeedBuffer[T] = FeedBuffer(asyncio.get_running_loop())
            buffer.start(source(arbiter))  # on the loop: errors (NotFound) raise here
            return buffer

        buffer = self.query(what, begin)
        with self._lock:
            if self._phase is Phase.STOPPED:  # the loop ended meanwhile: so does the feed
                buffer.end()
            else:
                self._feeds.add(buffer)
        return Feed(buffer, self._forget_feed)

    def _forget_feed(self, buffer: FeedBuffer[Any]) -> None:
        with self._lock:
            self._feeds.discard(buffer)

    def dispatch(self, feed: Feed[T], callback: Callable[[T], object]) -> None:
        """Call `callback` with each item of `feed` in a thread of its own."""
        thread = threading.Thread(target=self._dispatch, args=(feed, callback),
                                  name="ringleader-events", daemon=True)
        with self._lock:
            self._dispatchers.add(thread)
        thread.start()

    def _dispatch(self, feed: Feed[T], callback: Callable[[T], object]) -> None:
        try:
            dispatch(feed, callback)
        finally:
            with self._lock:
                self._dispatchers.discard(threading.current_thread())


def _settle(future: concurrent.futures.Future[T], task: asyncio.Task[T], what: str) -> None:
    """Hand a task's outcome to the caller's future."""
    if task.cancelled():  # by the loop's end
        future.set_exception(NotRunning(f"{what}: the arbiter stopped before it was done"))
    elif (exc := task.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(task.result())
