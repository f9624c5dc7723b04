"""One handler per API operation (`op_<op>`): validate, call the arbiter, shape the answer.

Handlers receive the watcher name (for `/watchers/{name}/...` routes), the decoded
request Struct (for routes with a body) and the query parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import msgspec

from ringleader.api.cluster_view import ClusterView
from ringleader.api.feeds import MIN_INTERVAL, Feeds
from ringleader.api.http import EventStream, Response
from ringleader.api.schema import (
    AddWatcherRequest,
    ControllerOptions,
    CountRequest,
    DaemonStats,
    LogsResponse,
    NumProcesses,
    Ok,
    OptionsResponse,
    ReloadConfigResponse,
    SetOptionsRequest,
    SignalRequest,
    SignalResult,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
)
from ringleader.config.plan import ReloadPlan
from ringleader.config.secrets import redact_env
from ringleader.engine.answers import event_message, reload_answer
from ringleader.engine.arbiter import Arbiter
from ringleader.engine.watcher import Watcher
from ringleader.errors import BadArgument, Conflict, NotReady

Query = dict[str, list[str]]
MAX_LOG_LINES = 10_000
_encode = msgspec.json.Encoder().encode


class Controller(Protocol):
    """What the daemon offers the API beyond the arbiter."""

    async def reload_config(self) -> ReloadPlan: ...

    def quit(self) -> None: ...

    def record(self, op: str, name: str | None, value: object = None) -> None:
        """A runtime change to keep across restarts (add, rm, set, scale, start, stop,
        restart)."""
        ...

    async def saved(self) -> None:
        """Until the changes recorded so far are in the state file."""
        ...


def _one(query: Query, key: str, default: str | None = None) -> str | None:
    values = query.get(key)
    if not values:
        return default
    if len(values) > 1:
        raise BadArgument(f"query parameter {key!r} given more than once")
    return values[0]


def _number(query: Query, key: str, default: float, low: float, high: float) -> float:
    raw = _one(query, key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadArgument(f"{key} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadArgument(f"{key} must be between {low:g} and {high:g}, got {raw}")
    return value


def _wid(query: Query) -> int | None:
    raw = _one(query, "wid")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadArgument(f"wid must be a process slot number, got {raw!r}")
    return int(raw)


def _line_filter(query: Query) -> dict[str, Any]:
    """?stream=, ?wid=, ?since= of the logs routes, as the Arbiter's keywords (which it
    checks further)."""
    stream = _one(query, "stream")
    wid = _one(query, "wid")
    if wid is not None and not (wid.isascii() and wid.isdigit() and len(wid) <= 9):
        raise BadArgument(f"wid must be a process slot number, got {wid!r}")
    raw_since = _one(query, "since")
    since = None if raw_since is None else _number(query, "since", 0, 0, 1e11)
    return {"stream": stream, "wid": None if wid is None else int(wid), "since": since}


class Commands:
    def __init__(self, arbiter: Arbiter, controller: Controller,
                 cluster: ClusterView | None = None) -> None:
        self.arbiter = arbiter
        self.controller = controller
        self.cluster = cluster
        self.feeds = Feeds(self._stats_snapshot)

    # -- a cluster node ---------------------------------------------------------------

    def status_dict(self) -> dict[str, Any]:
        """The arbiter's status as plain data, on a cluster node with each watcher's job
        and the node's cluster state."""
        status = self.arbiter.status_dict()
        if self.cluster is not None:
            for w in status["watchers"]:
                if (job := self.cluster.job_of(w["name"])) is not None:
                    w["job"] = job
            status["cluster"] = self.cluster.status()
        return status

    def _status(self) -> StatusResponse:
        if self.cluster is None:
            return self.arbiter.status()
        return msgspec.convert(self.status_dict(), StatusResponse)

    def _watcher_status(self, name: str) -> WatcherInfo:
        info = self.arbiter.status(name)
        job = self.cluster.job_of(name) if self.cluster is not None else None
        return info if job is None else msgspec.structs.replace(info, job=job)

    def _local_change(self, name: str, verb: str) -> None:
        """A change only `ringleader cluster` may make to a cluster job's watcher."""
        if self.cluster is not None:
            self.cluster.refuse_local_change(name, verb)

    async def _record(self, op: str, name: str | None, value: object = None) -> None:
        """Keep a runtime change; answer only once it is saved, so that a change the
        client saw succeed survives even a controller killed right after."""
        self.controller.record(op, name, value)
        await self.controller.saved()

    # -- guards ---------------------------------------------------------------------

    def _mutable(self, name: str | None = None) -> Watcher | None:
        """Fail fast with CONFLICT rather than queueing behind a running mutation."""
        if self.arbiter.is_stopping:
            raise Conflict("the controller is shutting down")
        if self.arbiter.is_reloading:
            raise Conflict("a configuration reload is in progress")
        if name is None:
            busy = [w.name for w in self.arbiter.watchers if w.is_busy]
            if busy:
                raise Conflict(f"another operation is in progress on {', '.join(busy)}")
            return None
        watcher = self.arbiter.watcher(name)
        if watcher.is_busy:
            raise Conflict(f"another operation is in progress on watcher {name!r}")
        return watcher

    async def _on_watcher(self, name: str, action: Callable[[Watcher], Awaitable[Any]],
                          record: str | None = None) -> WatcherInfo:
        watcher = self._mutable(name)
        assert watcher is not None
        try:
            await action(watcher)
        except NotReady:
            # Done all the same (the processes are the respawn policy's): kept.
            if record:
                await self._record(record, name)
            raise
        if record:
            await self._record(record, name)
        return self._watcher_status(name)

    async def _on_all(self, action: Callable[[], Awaitable[Any]],
                      record: str | None = None) -> StatusResponse:
        self._mutable()
        try:
            await action()
        except NotReady:
            if record:
                await self._record(record, None)
            raise
        if record:
            await self._record(record, None)
        return self._status()

    # -- read -----------------------------------------------------------------------

    async def op_status(self, *, query: Query) -> StatusResponse | Response:
        # The hottest call (consoles, dashboards, `up` polling): the status as plain data
        # in StatusResponse's shape (a test checks it), encoded without building Structs.
        return Response(200, _encode(self.status_dict()))

    async def op_list(self, *, query: Query) -> WatcherList:
        return self.arbiter.list_watchers()

    async def op_get_watcher(self, name: str, *, query: Query) -> WatcherInfo:
        return self._watcher_status(name)

    async def op_numprocesses(self, name: str, *, query: Query) -> NumProcesses:
        return NumProcesses(name=name, numprocesses=self.arbiter.numprocesses(name))

    async def op_options(self, name: str, *, query: Query) -> OptionsResponse:
        answer = self.arbiter.options(name, *query.get("key", ()))
        if "env" not in answer.options:
            return answer
        return OptionsResponse(name=name, options={**answer.options,
                                                   "env": redact_env(answer.options["env"])})

    async def op_sockets(self, *, query: Query) -> SocketList:
        return self.arbiter.list_sockets()

    async def op_controller_options(self, *, query: Query) -> ControllerOptions:
        return self.arbiter.controller_options()

    async def op_dstats(self, *, query: Query) -> DaemonStats:
        return await self.arbiter.daemon_stats()

    async def op_stats(self, *, query: Query) -> StatsResponse:
        return await self.arbiter.stats(_one(query, "watcher"))

    async def op_stats_stream(self, *, query: Query) -> EventStream:
        only = _one(query, "watcher")
        if only is not None:
            self.arbiter.watcher(only)
        interval = _number(query, "interval", 1.0, MIN_INTERVAL, 3600)
        snapshots = self.feeds.follow(interval, only)  # shared with every stream like it

        async def events() -> AsyncIterator[tuple[str, bytes]]:
            try:
                async for data in snapshots:
                    yield "stats", data
            finally:
                await snapshots.aclose()

        return EventStream(events())

    async def _stats_snapshot(self, only: str | None) -> bytes:
        return _encode(await self.arbiter.stats(only))

    async def op_logs(self, *, query: Query) -> LogsResponse:
        lines = int(_number(query, "lines", 100, 0, MAX_LOG_LINES))
        return self.arbiter.logs(_one(query, "watcher"), lines, **_line_filter(query))

    async def op_logs_stream(self, *, query: Query) -> EventStream:
        only = _one(query, "watcher")
        lines = int(_number(query, "lines", 0, 0, MAX_LOG_LINES))
        follow = self.arbiter.follow_logs(only, lines, **_line_filter(query))

        async def events() -> AsyncIterator[tuple[str, bytes]]:
            try:
                async for line in follow:
                    yield "log", _encode(line)
            finally:
                await follow.aclose()

        return EventStream(events())

    async def op_events(self, *, query: Query) -> EventStream:
        stream = self.arbiter.events(*query.get("topic", ()))

        async def events() -> AsyncIterator[tuple[str, bytes]]:
            try:
                async for event in stream:
                    yield event.topic, _encode(event_message(event))
            finally:
                await stream.aclose()

        return EventStream(events())

    async def op_openapi(self, *, query: Query) -> Response:
        from ringleader.api.openapi import openapi_document

        return Response(200, openapi_document())

    async def op_metrics(self, *, query: Query) -> Response:
        from ringleader.api.metrics import render_metrics

        status = self.status_dict()
        stats = msgspec.to_builtins(await self.arbiter.stats(None))
        body, content_type = render_metrics(status, stats)
        return Response(200, body, content_type=content_type)

    # -- operate --------------------------------------------------------------------

    async def op_start(self, name: str, *, query: Query) -> WatcherInfo:
        wid = _wid(query)
        if wid is not None:  # one process (supervisorctl start group:process)
            return await self._on_watcher(name, lambda w: w.process_action(wid, "start"))
        return await self._on_watcher(name, lambda w: w.start(), "start")

    async def op_stop(self, name: str, *, query: Query) -> WatcherInfo:
        wid = _wid(query)
        if wid is not None:
            return await self._on_watcher(name, lambda w: w.process_action(wid, "stop"))
        return await self._on_watcher(name, lambda w: w.stop(), "stop")

    async def op_restart(self, name: str, *, query: Query) -> WatcherInfo:
        wid = _wid(query)
        if wid is not None:
            return await self._on_watcher(name, lambda w: w.process_action(wid, "restart"))
        return await self._on_watcher(name, lambda w: w.restart(), "restart")

    async def op_reload(self, name: str, *, query: Query) -> WatcherInfo:
        return await self._on_watcher(name, lambda w: w.reload())

    async def op_start_all(self, *, query: Query) -> StatusResponse:
        return await self._on_all(lambda: self.arbiter.start_watcher(None), "start")

    async def op_stop_all(self, *, query: Query) -> StatusResponse:
        return await self._on_all(lambda: self.arbiter.stop_watcher(None), "stop")

    async def op_restart_all(self, *, query: Query) -> StatusResponse:
        return await self._on_all(lambda: self.arbiter.restart(None), "restart")

    async def op_reload_all(self, *, query: Query) -> StatusResponse:
        return await self._on_all(lambda: self.arbiter.reload(None))

    async def op_incr(self, name: str, body: CountRequest, *, query: Query) -> NumProcesses:
        self._local_change(name, "scale")
        watcher = self._mutable(name)
        assert watcher is not None
        count = await watcher.incr(body.count)
        await self._record("scale", name)
        return NumProcesses(name=name, numprocesses=count)

    async def op_decr(self, name: str, body: CountRequest, *, query: Query) -> NumProcesses:
        self._local_change(name, "scale")
        watcher = self._mutable(name)
        assert watcher is not None
        count = await watcher.decr(body.count)
        await self._record("scale", name)
        return NumProcesses(name=name, numprocesses=count)

    async def op_signal(self, name: str, body: SignalRequest, *, query: Query) -> SignalResult:
        count = await self.arbiter.signal(name, body.signal, wid=body.wid, pid=body.pid,
                                          children=body.children)
        return SignalResult(signalled=count)

    # -- admin ----------------------------------------------------------------------

    async def op_add(self, body: AddWatcherRequest, *, query: Query) -> WatcherInfo:
        self._mutable()
        options = {**body.options, "name": body.name, "cmd": body.cmd,
                   "numprocesses": body.numprocesses}
        try:
            info = await self.arbiter.add_watcher(options, start=body.start)
        except NotReady:
            await self._record("add", body.name, body.start)  # added all the same
            raise
        await self._record("add", info.name, body.start)
        return info

    async def op_rm(self, name: str, *, query: Query) -> Ok:
        self._local_change(name, "remove")
        self._mutable(name)
        await self.arbiter.remove_watcher(name)
        await self._record("rm", name)
        return Ok(detail=f"watcher {name!r} removed")

    async def op_set(self, name: str, body: SetOptionsRequest, *, query: Query,
                     ) -> OptionsResponse:
        if not body.options:
            raise BadArgument("no option to set")
        if "name" in body.options:
            raise BadArgument("a watcher cannot be renamed (rm it and add it again)")
        self._local_change(name, "change")
        self._mutable(name)
        await self.arbiter.set_options(name, body.options)
        await self._record("set", name)
        return await self.op_options(name, query={})

    async def op_reloadconfig(self, *, query: Query) -> ReloadConfigResponse:
        self._mutable()
        return reload_answer(await self.controller.reload_config())

    async def op_quit(self, *, query: Query) -> Ok:
        self.controller.quit()
        return Ok(detail="stopping every watcher, then the controller")

