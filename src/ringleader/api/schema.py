"""The control API's contract: request/response Structs, error codes and the route table.

Shared by the server (which binds a handler to each route's `op`), the client and the
OpenAPI document. Imports nothing from the engine, so the CLI can use it cheaply.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Name = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]
Count = Annotated[int, Meta(ge=0, le=100_000)]
Role = Literal["read", "operate", "admin"]


class ErrorCode(enum.Enum):
    """Stable error codes: clients switch on these, never on the message."""

    BAD_REQUEST = "bad_request"  # malformed HTTP, JSON or arguments
    UNAUTHORIZED = "unauthorized"  # no or wrong credentials
    FORBIDDEN = "forbidden"  # authenticated, but the role does not allow it
    NOT_FOUND = "not_found"  # no such watcher, process, route
    METHOD_NOT_ALLOWED = "method_not_allowed"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"  # another mutation of the same watcher is in progress
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_MANY_REQUESTS = "too_many_requests"  # auth failures slowed down, or too many clients
    CONFIG_INVALID = "config_invalid"  # reloadconfig/add/set refused by validation
    SPAWN_FAILED = "spawn_failed"
    LIMIT_EXCEEDED = "limit_exceeded"  # more processes than max_processes
    HOOK_FAILED = "hook_failed"  # a before_* hook failed: the action was cancelled
    NOT_READY = "not_ready"  # a reload's new processes did not become ready (rolled back)
    UNAVAILABLE = "unavailable"  # the controller is shutting down
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.CONFIG_INVALID: 422,
    ErrorCode.LIMIT_EXCEEDED: 422,
    ErrorCode.NOT_READY: 422,
    ErrorCode.HOOK_FAILED: 422,
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.SPAWN_FAILED: 500,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}


class Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ErrorBody(Struct, frozen=True, kw_only=True):
    error: ErrorCode
    detail: str


class Ok(Struct, frozen=True, kw_only=True):
    ok: bool = True
    detail: str = ""


# -- status -----------------------------------------------------------------------------

class ProcessInfo(Struct, frozen=True, kw_only=True):
    wid: int
    pid: int | None
    state: str
    reason: str = ""  # why it is in that state (exit code, backoff delay, flapping...)
    status: str = ""  # what the process says of itself (sd_notify STATUS=)
    uptime: float
    restarts: int
    exit_code: int | None
    exit_signal: int | None
    exit_history: list[int] = []  # recent exit codes, negative: killed by that signal


class WatcherInfo(Struct, frozen=True, kw_only=True):
    name: str
    state: str  # stopped, starting, active, stopping; flapping or failed when parked
    detail: str = ""  # why it is flapping or failed, with the last exit codes
    numprocesses: int
    running: int
    processes: list[ProcessInfo]


class ControllerInfo(Struct, frozen=True, kw_only=True):
    pid: int
    version: str
    uptime: float
    config: str | None


class StatusResponse(Struct, frozen=True, kw_only=True):
    controller: ControllerInfo
    watchers: list[WatcherInfo]


class WatcherList(Struct, frozen=True, kw_only=True):
    watchers: list[str]


class NumProcesses(Struct, frozen=True, kw_only=True):
    name: str
    numprocesses: int


# -- requests ---------------------------------------------------------------------------

class AddWatcherRequest(Struct, frozen=True, kw_only=True):
    name: Name
    cmd: Annotated[str, Meta(min_length=1, max_length=65_536)]
    numprocesses: Count = 1
    start: bool = False
    options: Annotated[dict[str, Any], Meta(description="any other watcher option, as in the "
                                            "config file")] = {}


class CountRequest(Struct, frozen=True, kw_only=True):
    count: Annotated[int, Meta(ge=1, le=100_000)] = 1


class SignalRequest(Struct, frozen=True, kw_only=True):
    signal: Annotated[str | int, Meta(description="name (TERM, SIGHUP) or number")]
    pid: Annotated[int, Meta(ge=1, description="only this process of the watcher")] | None = None
    wid: Annotated[int, Meta(ge=1, description="only this slot of the watcher")] | None = None
    children: Annotated[bool, Meta(description="signal the whole process group")] = False


class SignalResult(Struct, frozen=True, kw_only=True):
    signalled: int


class SetOptionsRequest(Struct, frozen=True, kw_only=True):
    options: Annotated[dict[str, Any], Meta(description="option -> new value, as in the config "
                                            "file")]


class OptionsResponse(Struct, frozen=True, kw_only=True):
    name: str
    options: dict[str, Any]


class ReloadConfigResponse(Struct, frozen=True, kw_only=True):
    added: list[str]
    removed: list[str]
    changed: list[str]
    rescaled: list[str]


# -- stats, logs, events, sockets ------------------------------------------------------

class ProcessStats(Struct, frozen=True, kw_only=True):
    wid: int
    pid: int
    cpu_percent: float  # of one core, children included
    rss: int  # bytes, children included
    uss: int | None  # bytes, where the OS tells it
    num_fds: int | None
    num_children: int
    age: float
    restarts: int
    exit_history: list[int]  # recent exit codes of this slot (negative: killed by signal)


class WatcherStats(Struct, frozen=True, kw_only=True):
    name: str
    cpu_percent: float
    rss: int
    processes: list[ProcessStats]
    # The watcher's cgroup (memory_current, pids_current, ...), when it runs in one.
    cgroup: dict[str, int | float | None] | None = None
    # What the watcher's extended_stats hook returned, when it has one.
    extended: dict[str, Any] | None = None


class StatsResponse(Struct, frozen=True, kw_only=True):
    at: float
    watchers: list[WatcherStats]


class LogLine(Struct, frozen=True, kw_only=True):
    at: float
    watcher: str
    wid: int
    stream: Literal["stdout", "stderr"]
    line: str  # decoded as UTF-8 with replacement


class LogsResponse(Struct, frozen=True, kw_only=True):
    lines: list[LogLine]


class EventMessage(Struct, frozen=True, kw_only=True):
    topic: str
    at: float
    data: dict[str, Any]


class SocketInfo(Struct, frozen=True, kw_only=True):
    name: str
    address: str
    fd: int | None


class SocketList(Struct, frozen=True, kw_only=True):
    sockets: list[SocketInfo]


# -- the types of each operation ------------------------------------------------------

class OpTypes(msgspec.Struct, frozen=True):
    request: type | None = None
    response: type | None = None
    stream: type | None = None  # the type of each Server-Sent Event's data
    status: int = 200


TYPES: dict[str, OpTypes] = {
    "status": OpTypes(response=StatusResponse),
    "list": OpTypes(response=WatcherList),
    "add": OpTypes(request=AddWatcherRequest, response=WatcherInfo, status=201),
    "get_watcher": OpTypes(response=WatcherInfo),
    "rm": OpTypes(response=Ok),
    "start": OpTypes(response=WatcherInfo),
    "stop": OpTypes(response=WatcherInfo),
    "restart": OpTypes(response=WatcherInfo),
    "reload": OpTypes(response=WatcherInfo),
    "start_all": OpTypes(response=StatusResponse),
    "stop_all": OpTypes(response=StatusResponse),
    "restart_all": OpTypes(response=StatusResponse),
    "reload_all": OpTypes(response=StatusResponse),
    "incr": OpTypes(request=CountRequest, response=NumProcesses),
    "decr": OpTypes(request=CountRequest, response=NumProcesses),
    "numprocesses": OpTypes(response=NumProcesses),
    "signal": OpTypes(request=SignalRequest, response=SignalResult),
    "options": OpTypes(response=OptionsResponse),
    "set": OpTypes(request=SetOptionsRequest, response=OptionsResponse),
    "stats": OpTypes(response=StatsResponse),
    "stats_stream": OpTypes(stream=StatsResponse),
    "logs": OpTypes(response=LogsResponse),
    "logs_stream": OpTypes(stream=LogLine),
    "events": OpTypes(stream=EventMessage),
    "sockets": OpTypes(response=SocketList),
    "reloadconfig": OpTypes(response=ReloadConfigResponse),
    "quit": OpTypes(response=Ok),
    "openapi": OpTypes(),
    "metrics": OpTypes(),
}
