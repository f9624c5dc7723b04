"""The read side of an Arbiter: the console's queries (status, list, numprocesses, options,
stats, logs, events, sockets), answered with the Structs of ``engine.answers``. The
control API and the library both call these, so an answer is shaped in one place."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Literal, overload

import msgspec

from ringleader.config import options
from ringleader.engine.answers import (
    ControllerOptions,
    DaemonStats,
    LogLine,
    LogsResponse,
    OptionsResponse,
    SocketInfo,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
)
from ringleader.engine.watcher import Watcher
from ringleader.errors import BadArgument, NotFound
from ringleader.lifecycle.events import EventBus, Subscription
from ringleader.output.logbuffer import Follower, LineFilter, LogBuffer

if TYPE_CHECKING:
    from ringleader.config.model import ControllerConfig
    from ringleader.features.sockets import SocketSet
    from ringleader.features.stats import StatsSampler  # made on first use (Arbiter.sampler)


class Queries:
    """What an Arbiter answers without changing anything. The Arbiter (its only
    subclass) sets these attributes up and adds the lifecycle and the operations."""

    _watchers: dict[str, Watcher]
    bus: EventBus
    logbuffer: LogBuffer
    sampler: StatsSampler
    sockets: SocketSet | None
    source: str | None
    controller: ControllerConfig
    started_at: float  # time.monotonic() at start; 0 when not running
    booted: bool  # start() has started (or tried) every watcher it starts

    def watcher(self, name: str) -> Watcher:
        """The live Watcher object (engine internals; NotFound if there is none)."""
        try:
            return self._watchers[name]
        except KeyError:
            raise NotFound(f"no watcher named {name!r}") from None

    def slot_of(self, name: str, wid: int | None, pid: int | None) -> int | None:
        """The slot a client means by `wid` or `pid` (None: every slot); NotFound if
        the watcher has no such process, BadArgument if the two disagree."""
        watcher = self.watcher(name)
        if pid is not None:
            matches = [p.wid for p in watcher.processes.values()
                       if p.is_alive and p.pid == pid]
            if not matches:
                raise NotFound(f"pid {pid} is not a process of watcher {name!r}")
            if wid is not None and wid != matches[0]:
                raise BadArgument(f"pid {pid} is process {matches[0]}, not {wid}")
            wid = matches[0]
        if wid is not None and wid not in watcher.processes:
            raise NotFound(f"watcher {name!r} has no process {wid}")
        return wid

    @property
    def watchers(self) -> list[Watcher]:
        """The live Watcher objects, in the order they were added."""
        return list(self._watchers.values())

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Each watcher's status as plain data (WatcherInfo's shape), by name."""
        return {name: w.status() for name, w in self._watchers.items()}

    def status_dict(self) -> dict[str, Any]:
        """``status()`` as plain data in StatusResponse's shape, for callers that only
        encode it (the API's hottest call): no Structs built."""
        uptime = time.monotonic() - self.started_at if self.started_at else 0.0
        return {
            "controller": {"pid": os.getpid(), "version": _version(),
                           "uptime": round(uptime, 3), "config": self.source,
                           "starting": not self.booted},
            "watchers": [w.status() for w in self._watchers.values()],
        }

    @overload
    def status(self, name: None = None) -> StatusResponse: ...

    @overload
    def status(self, name: str) -> WatcherInfo: ...

    def status(self, name: str | None = None) -> StatusResponse | WatcherInfo:
        """The controller and every watcher with its processes (``ringleader status``);
        with a name, that watcher alone (``status NAME``)."""
        if name is not None:
            return msgspec.convert(self.watcher(name).status(), WatcherInfo)
        return msgspec.convert(self.status_dict(), StatusResponse)

    def list_watchers(self) -> WatcherList:
        """The watchers' names (``ringleader list``)."""
        return WatcherList(watchers=list(self._watchers))

    def numprocesses(self, name: str) -> int:
        """How many processes the watcher is meant to run now."""
        return self.watcher(name).numprocesses

    def pids(self, name: str | None = None) -> list[int]:
        """The pids of the live processes of one watcher, or of all."""
        ws = [self.watcher(name)] if name else self._watchers.values()
        return list(itertools.chain.from_iterable(w.pids() for w in ws))

    def options(self, name: str, *keys: str) -> OptionsResponse:
        """A watcher's effective options as a config file names them, numprocesses as it is
        now (``ringleader options NAME``); with keys, only those (``get NAME KEY...``)."""
        watcher = self.watcher(name)
        current = options.dump(watcher.config)
        current["numprocesses"] = watcher.numprocesses
        if keys:
            # circus's free-form options are asked for by their own names too
            current = {**current.get("extra", {}), **current}
            missing = [k for k in keys if k not in current]
            if missing:
                raise NotFound(f"watcher {name!r} has no option {', '.join(missing)}")
            current = {k: current[k] for k in keys}
        return OptionsResponse(name=name, options=current)

    async def stats(self, name: str | None = None) -> StatsResponse:
        """CPU, memory and fds of every live process (children included), sampled in a
        worker thread, with each watcher's cgroup counters and extended_stats."""
        if name is not None:
            self.watcher(name)
        data = await self.sampler.collect(self._watchers.values(), only=name)

        async def extend(stats: dict[str, Any]) -> None:
            watcher = self._watchers.get(stats["name"])
            if watcher is None:  # removed meanwhile
                stats["cgroup"] = stats["extended"] = None
            else:
                await watcher.features.extra_stats(stats)

        await asyncio.gather(*(extend(w) for w in data["watchers"]))
        return msgspec.convert(data, StatsResponse)

    def logs(self, name: str | None = None, lines: int = 100, *,
             stream: Literal["stdout", "stderr"] | None = None, wid: int | None = None,
             since: float | None = None) -> LogsResponse:
        """The last `lines` output lines of one watcher (or all), oldest first; only those
        of one `stream` ("stdout", "stderr"), one process slot `wid`, from wall time
        `since` on, when given (``logs NAME -n N --stream --wid --since``)."""
        if name is not None:
            self.watcher(name)
        keep = _line_filter(stream, wid, since)
        return LogsResponse(lines=[msgspec.convert(line, LogLine)
                                   for line in self.logbuffer.recent(name, lines, keep)])

    def follow_logs(self, name: str | None = None, lines: int = 0, *,
                    stream: Literal["stdout", "stderr"] | None = None, wid: int | None = None,
                    since: float | None = None) -> AsyncGenerator[LogLine, None]:
        """New output lines of one watcher (or all) from this call on, after the last
        `lines` ones, with the filters of ``logs`` (``logs -f``). A follower that falls
        behind gets a ``[N lines dropped]`` line. Close it with ``aclose()``."""
        if name is not None:
            self.watcher(name)
        keep = _line_filter(stream, wid, since)
        # Follow first: no line can fall between the backlog and the stream.
        follower = self.logbuffer.follow(name)
        backlog = self.logbuffer.recent(name, lines, keep) if lines else []
        return _follow(follower, backlog, keep)

    def events(self, *topics: str) -> Subscription:
        """Events from this call on, as an async iterator of typed events (``events``);
        with topics, only those whose topic starts with one of them ("process",
        "watcher.changed"). One that falls 10,000 events behind ends."""
        return self.bus.stream(frozenset(topics) or None)

    def controller_options(self) -> ControllerOptions:
        """The controller's options (circusctl globaloptions), tokens without their hashes."""
        shown = msgspec.to_builtins(self.controller)
        shown["tokens"] = [{"name": t["name"], "role": t["role"]} for t in shown["tokens"]]
        return ControllerOptions(options=shown)

    async def daemon_stats(self) -> DaemonStats:
        """The controller process's own CPU, memory, fds (circusctl dstats), sampled in a
        worker thread."""
        return await asyncio.to_thread(_own_stats, self.started_at)

    def list_sockets(self) -> SocketList:
        """The listening sockets the arbiter passes to its workers (``sockets``)."""
        found = self.sockets.sockets if self.sockets is not None else []
        return SocketList(sockets=[SocketInfo(name=s.name, address=s.address, fd=s.fd)
                                   for s in found])


def _own_stats(started_at: float) -> DaemonStats:
    import psutil

    me = psutil.Process()
    with me.oneshot():
        mem = me.memory_info()
        fds, threads, children = me.num_fds(), me.num_threads(), len(me.children())
    return DaemonStats(pid=me.pid, cpu=me.cpu_percent(interval=0.05), rss=mem.rss,
                       vms=mem.vms, fds=fds, threads=threads, children=children,
                       uptime=round(time.monotonic() - started_at, 3) if started_at else 0.0)


async def _follow(follower: Follower, backlog: list[dict[str, Any]],
                  keep: LineFilter | None) -> AsyncGenerator[LogLine, None]:
    try:
        for line in backlog:
            yield msgspec.convert(line, LogLine)
        async for line in follower:
            if keep is None or keep.keeps_line(line):
                yield msgspec.convert(line, LogLine)
    finally:
        await follower.aclose()


def _line_filter(stream: object, wid: object, since: object) -> LineFilter | None:
    """The logs filters, checked (BadArgument), as the log buffer's LineFilter."""
    if stream not in (None, "stdout", "stderr"):
        raise BadArgument(f"stream must be stdout or stderr, got {stream!r}")
    if wid is not None and (isinstance(wid, bool) or not isinstance(wid, int) or wid < 0):
        raise BadArgument(f"wid must be a process slot number, got {wid!r}")
    if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))):
        raise BadArgument(f"since must be a time in seconds since the epoch, got {since!r}")
    if stream is None and wid is None and since is None:
        return None
    return LineFilter(stream=stream, wid=wid, since=since)


def _version() -> str:
    from ringleader import __version__

    return __version__
