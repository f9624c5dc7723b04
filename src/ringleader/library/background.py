"""BackgroundArbiter: the console's commands as blocking, thread-safe methods, over an
Arbiter whose event loop runs in a thread of its own (``engine_thread``).

Each method runs the Arbiter method of the same name on the engine's loop and returns
its answer: the Structs of ``ringleader.engine.answers``, the ones the control API sends.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from ringleader.config.load import as_watcher_configs
from ringleader.config.model import Config, ControllerConfig, WatcherConfig
from ringleader.engine.answers import (
    LogLine,
    LogsResponse,
    OptionsResponse,
    ReloadConfigResponse,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
    reload_answer,
)
from ringleader.engine.arbiter import Arbiter
from ringleader.library.arguments import (
    check_engine_options,
    check_list_form,
    controller_config,
    one_command,
)
from ringleader.library.engine_thread import EngineThread, Phase
from ringleader.library.feeds import Feed
from ringleader.lifecycle.events import Event

T = TypeVar("T")


class BackgroundArbiter:
    """Workers run from inside an application: an Arbiter whose event loop runs in a
    dedicated thread, driven by blocking methods that any thread may call.

    Build it with ``ringleader.get_arbiter(...)``; ``start()`` it (it returns once the
    workers run) and ``stop()`` it (graceful), or use ``with get_arbiter(...) as arbiter:``.
    An application that exits without ``stop()`` stops its workers at exit (and, if it is
    killed, its guardian does). Once stopped, it cannot be started again: every call
    raises NotRunning.

    Each call waits for the engine at most ``timeout`` seconds (TimeoutError; the
    operation goes on in the engine) and raises the engine's own errors
    (``ringleader.errors``: NotFound, AlreadyExists, ConfigError, ...).
    """

    def __init__(
        self,
        watchers: Iterable[WatcherConfig | Mapping[str, Any]],
        controller: ControllerConfig | Mapping[str, Any] | None = None,
        *,
        console_fd: int = 1,
        console_color: bool | None = None,
        use_guardian: bool = True,
        timeout: float | None = 120.0,
    ) -> None:
        check_engine_options(console_fd=console_fd, console_color=console_color,
                             use_guardian=use_guardian, timeout=timeout)
        # Built in the caller's thread, so that a bad watcher, duplicate names or too many
        # processes raise right here. (It binds to no loop until started.)
        arbiter = Arbiter(watchers, controller_config(controller), console_fd=console_fd,
                          console_color=console_color, use_guardian=use_guardian)
        self._engine = EngineThread(arbiter, timeout)
        # At interpreter exit, or when the application drops this object without stop(),
        # the workers are stopped gracefully. The finalizer holds the engine, not `self`.
        self._finalizer = weakref.finalize(self, self._engine.stop_quietly)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def timeout(self) -> float | None:
        """How long a call waits for the engine, in seconds (None: no limit)."""
        return self._engine.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        check_engine_options(timeout=value)
        self._engine.timeout = value

    @property
    def is_running(self) -> bool:
        """Started, and not yet stopping."""
        return self._engine.phase is Phase.RUNNING

    def start(self) -> None:
        """Start the engine thread and every autostart watcher; returns once their
        processes are ready. A watcher that cannot start raises here, and nothing runs."""
        self._engine.start()

    def stop(self) -> None:
        """Stop every process gracefully and end the engine thread; returns once they are
        gone. Idempotent, from any thread."""
        self._engine.stop()

    def __enter__(self) -> BackgroundArbiter:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def call(self, func: Callable[[Arbiter], Awaitable[T]]) -> T:
        """Run ``await func(arbiter)`` on the engine's loop with the async Arbiter, and
        return its result: for what the methods below do not offer."""
        return self._engine.run("call", func)

    # -- queries ------------------------------------------------------------------------

    @overload
    def status(self, name: None = None) -> StatusResponse: ...

    @overload
    def status(self, name: str) -> WatcherInfo: ...

    def status(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """Every watcher with its processes (``ringleader status``); with a name, that
        watcher alone (``status NAME``)."""
        return self._engine.query("status", lambda a: a.status(name))

    def list_watchers(self) -> WatcherList:
        """The watchers' names (``list``)."""
        return self._engine.query("list_watchers", lambda a: a.list_watchers())

    def numprocesses(self, name: str) -> int:
        """How many processes the watcher is meant to run now (``numprocesses NAME``)."""
        return self._engine.query("numprocesses", lambda a: a.numprocesses(name))

    def pids(self, name: str | None = None) -> list[int]:
        """The pids of the live processes of one watcher, or of all."""
        return self._engine.query("pids", lambda a: a.pids(name))

    def options(self, name: str, *keys: str) -> OptionsResponse:
        """The watcher's options with the config file's names and values (``options
        NAME``); with keys, only those (``get NAME KEY...``)."""
        return self._engine.query("options", lambda a: a.options(name, *keys))

    def stats(self, name: str | None = None) -> StatsResponse:
        """CPU, memory and fds of every live process, children included (``stats``)."""
        return self._engine.run("stats", lambda a: a.stats(name), reads_only=True)

    def logs(self, name: str | None = None, lines: int = 100, *,
             stream: Literal["stdout", "stderr"] | None = None, wid: int | None = None,
             since: float | None = None) -> LogsResponse:
        """The last output lines of one watcher, or of all, oldest first (``logs``); only
        those of one `stream`, one process slot `wid`, from wall time `since` on, when
        given. Output that goes to a file is read back from it; null output is not kept."""
        return self._engine.query("logs", lambda a: a.logs(
            name, lines, stream=stream, wid=wid, since=since))

    def follow_logs(self, name: str | None = None, lines: int = 0, *,
                    stream: Literal["stdout", "stderr"] | None = None,
                    wid: int | None = None, since: float | None = None) -> Feed[LogLine]:
        """New output lines from now on, after the last `lines` ones, with the filters of
        ``logs`` (``logs -f``): a Feed to iterate over, and to close when done."""
        return self._engine.open_feed("follow_logs", lambda a: a.follow_logs(
            name, lines, stream=stream, wid=wid, since=since))

    def events(self, *topics: str) -> Feed[Event]:
        """The arbiter's events from now on (``events``), as typed Event objects
        (``ringleader.lifecycle.events``); with topics, only those whose topic starts with
        one of them (``"process"``, ``"watcher.changed"``). A Feed: iterate, then close."""
        return self._engine.open_feed("events", lambda a: a.events(*topics))

    def on_event(self, callback: Callable[[Event], object],
                 *topics: str) -> Callable[[], None]:
        """Call `callback(event)` for every event from now on (or those of `topics`), in
        a thread of its own, in order; it may call this object's methods. Returns the
        function that unsubscribes. An exception in the callback is logged."""
        feed = self.events(*topics)
        self._engine.dispatch(feed, callback)
        return feed.close

    def list_sockets(self) -> SocketList:
        """The listening sockets passed to the workers (``sockets``)."""
        return self._engine.query("list_sockets", lambda a: a.list_sockets())

    # -- operations ---------------------------------------------------------------------

    @overload
    def start_watcher(self, name: None = None) -> StatusResponse: ...

    @overload
    def start_watcher(self, name: str) -> WatcherInfo: ...

    def start_watcher(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """Start one watcher (or all, in order); returns its status once its processes are
        ready (``start [NAME]``). Revives what the respawn policy gave up on."""
        return self._act("start_watcher", name, lambda a: a.start_watcher(name))

    @overload
    def stop_watcher(self, name: None = None) -> StatusResponse: ...

    @overload
    def stop_watcher(self, name: str) -> WatcherInfo: ...

    def stop_watcher(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """Stop one watcher (or all) gracefully; the arbiter keeps running (``stop
        [NAME]``)."""
        return self._act("stop_watcher", name, lambda a: a.stop_watcher(name))

    @overload
    def restart(self, name: None = None) -> StatusResponse: ...

    @overload
    def restart(self, name: str) -> WatcherInfo: ...

    def restart(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """Stop, then start, one watcher (or all) (``restart [NAME]``)."""
        return self._act("restart", name, lambda a: a.restart(name))

    @overload
    def reload(self, name: None = None) -> StatusResponse: ...

    @overload
    def reload(self, name: str) -> WatcherInfo: ...

    def reload(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """Replace the processes one at a time, each new one ready before an old one
        stops (``reload [NAME]``). ReloadFailed if they do not become ready: the old ones
        keep running."""
        return self._act("reload", name, lambda a: a.reload(name))

    def _act(self, what: str, name: str | None,
             action: Callable[[Arbiter], Awaitable[None]]) -> StatusResponse | WatcherInfo:
        async def act(arbiter: Arbiter) -> StatusResponse | WatcherInfo:
            await action(arbiter)
            return arbiter.status(name)

        return self._engine.run(what, act)

    def incr(self, name: str, count: int = 1) -> int:
        """Add `count` processes; returns the new number (``incr``)."""
        return self._engine.run("incr", lambda a: a.incr(name, count))

    def decr(self, name: str, count: int = 1) -> int:
        """Remove `count` processes, the highest slots first, gracefully; returns the new
        number (``decr``)."""
        return self._engine.run("decr", lambda a: a.decr(name, count))

    def set_numprocesses(self, name: str, count: int) -> int:
        """Scale to `count` processes; returns the new number."""
        return self._engine.run("set_numprocesses", lambda a: a.set_numprocesses(name, count))

    def add_watcher(self, config: WatcherConfig | Mapping[str, Any], *,
                    start: bool = True) -> WatcherInfo:
        """Add a watcher (a dict of options, or a WatcherConfig) and, unless `start` is
        False, start it; returns its status once its processes are ready (``add``)."""
        return self._engine.run("add_watcher", lambda a: a.add_watcher(config, start=start))

    def remove_watcher(self, name: str) -> None:
        """Stop a watcher gracefully and forget it (``rm``)."""
        self._engine.run("remove_watcher", lambda a: a.remove_watcher(name))

    def set_options(self, name: str, changes: Mapping[str, Any] | None = None, /,
                    **options: Any) -> OptionsResponse:
        """Change options, with the config file's names and values, given as a dict or as
        keywords (``set NAME KEY VALUE``): ``set_options("web", graceful_timeout=5)``.
        Live options apply at once, others replace the processes one at a time. A bad
        value raises ConfigError and changes nothing. Returns the options after."""
        if changes is not None and not isinstance(changes, Mapping):
            raise TypeError(f"changes must be a dict of option -> value, got "
                            f"{type(changes).__name__}")
        merged = {**(changes or {}), **options}
        return self._engine.run("set_options", lambda a: a.set_options(name, merged))

    def signal(self, name: str, signum: int | str, *, wid: int | None = None,
               pid: int | None = None, children: bool = False) -> int:
        """Send a signal (``signal.SIGHUP``, ``"HUP"``, ``1``) to every live process of the
        watcher, or to one (`wid` or `pid`), with its process group if `children`;
        returns how many got it (``signal``)."""
        return self._engine.run("signal", lambda a: a.signal(
            name, signum, wid=wid, pid=pid, children=children))

    def reload_config(self, watchers: Iterable[WatcherConfig | Mapping[str, Any]],
                      controller: ControllerConfig | Mapping[str, Any] | None = None,
                      ) -> ReloadConfigResponse:
        """Switch to a new list of watchers (``reloadconfig``): new ones are added, gone
        ones removed, changed ones replaced without downtime, the others left alone. A bad
        list raises here and changes nothing."""
        configs = as_watcher_configs(watchers)
        control = None if controller is None else controller_config(controller)

        async def apply(arbiter: Arbiter) -> ReloadConfigResponse:
            config = Config(controller=control or arbiter.controller, watchers=configs)
            return reload_answer(await arbiter.reload_config(config))

        return self._engine.run("reload_config", apply)


@overload
def get_arbiter(cmd: str, numprocesses: int = 1, /, *,
                controller: ControllerConfig | Mapping[str, Any] | None = None,
                console_fd: int = 1, console_color: bool | None = None,
                use_guardian: bool = True, timeout: float | None = 120.0,
                **watcher_options: Any) -> BackgroundArbiter: ...


@overload
def get_arbiter(watchers: Iterable[WatcherConfig | Mapping[str, Any]], /, *,
                controller: ControllerConfig | Mapping[str, Any] | None = None,
                console_fd: int = 1, console_color: bool | None = None,
                use_guardian: bool = True,
                timeout: float | None = 120.0) -> BackgroundArbiter: ...


def get_arbiter(
    watchers: str | Iterable[WatcherConfig | Mapping[str, Any]],
    numprocesses: int | None = None,
    /, *,
    controller: ControllerConfig | Mapping[str, Any] | None = None,
    console_fd: int = 1,
    console_color: bool | None = None,
    use_guardian: bool = True,
    timeout: float | None = 120.0,
    **watcher_options: Any,
) -> BackgroundArbiter:
    """A BackgroundArbiter, not started yet: ``with get_arbiter(...) as arbiter:``, or
    ``start()`` then ``stop()``.

    - ``get_arbiter("python worker.py", 3, warmup_delay=1)``: one command, `numprocesses`
      processes, any other watcher option by keyword (the watcher is named after the
      program: "worker");
    - ``get_arbiter([{"name": "web", "cmd": ..., "numprocesses": 4}, ...])``: watchers as
      dicts of the config file's options, or ``WatcherConfig`` objects.

    `controller`: the config file's ``[ringleader]`` options (``max_processes``, ...).
    `console_fd`: where console output of the workers goes (default: stdout);
    `console_color`: colour its prefixes (None: each stream's option, else on a terminal).
    `use_guardian`: a tiny helper process that stops the workers if this process is
    killed. `timeout`: how long each call may wait for the engine.

    A wrong kind of argument raises TypeError, a wrong value ValueError (ConfigError for a
    watcher option), naming it.
    """
    if isinstance(watchers, str):
        items: Iterable[WatcherConfig | Mapping[str, Any]] = [
            one_command(watchers, numprocesses, watcher_options)]
    else:
        check_list_form(numprocesses, watcher_options)
        items = watchers
    return BackgroundArbiter(items, controller, console_fd=console_fd,
                             console_color=console_color, use_guardian=use_guardian,
                             timeout=timeout)
