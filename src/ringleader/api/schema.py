"""The control API's contract: request Structs, error codes and the types of each
operation (``TYPES``), shared by the server and the OpenAPI document.

The answers are the engine's own (``engine.answers``, re-exported here): the library
returns the same Structs.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ringleader.api.schema_dashboard import ClusterOverview, DashboardLink, DashboardRequest
from ringleader.engine.answers import (
    ClusterInfo,
    ClusterJobInfo,
    ControllerInfo,
    ControllerOptions,
    DaemonStats,
    EventMessage,
    LogLine,
    LogsResponse,
    NumProcesses,
    Ok,
    OptionsResponse,
    ProcessInfo,
    ProcessStats,
    ReloadConfigResponse,
    SignalResult,
    SocketInfo,
    SocketList,
    StatsResponse,
    StatusResponse,
    WatcherInfo,
    WatcherList,
    WatcherStats,
)

__all__ = [
    "HTTP_STATUS", "TYPES", "AddWatcherRequest", "ClusterInfo", "ClusterJobInfo",
    "ControllerInfo", "ControllerOptions", "CountRequest", "DaemonStats", "ErrorBody",
    "ErrorCode", "EventMessage", "LogLine", "LogsResponse", "NumProcesses", "Ok", "OpTypes",
    "OptionsResponse", "ProcessInfo", "ProcessStats", "ReloadConfigResponse",
    "SetOptionsRequest", "SignalRequest", "SignalResult", "SocketInfo", "SocketList",
    "StatsResponse", "StatusResponse", "Struct", "WatcherInfo", "WatcherList", "WatcherStats",
]

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
    CLUSTER_OWNED = "cluster_owned"  # a cluster job's watcher: change it with `cluster`
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_MANY_REQUESTS = "too_many_requests"  # auth failures slowed down, or too many clients
    CONFIG_INVALID = "config_invalid"  # reloadconfig/add/set refused by validation
    SPAWN_FAILED = "spawn_failed"
    LIMIT_EXCEEDED = "limit_exceeded"  # more processes than max_processes
    HOOK_FAILED = "hook_failed"  # a before_* hook failed: the action was cancelled
    NOT_READY = "not_ready"  # processes did not become ready (a reload: rolled back)
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
    ErrorCode.CLUSTER_OWNED: 409,
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


class SetOptionsRequest(Struct, frozen=True, kw_only=True):
    options: Annotated[dict[str, Any], Meta(description="option -> new value, as in the config "
                                            "file")]


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
    "controller_options": OpTypes(response=ControllerOptions),
    "dstats": OpTypes(response=DaemonStats),
    "reloadconfig": OpTypes(response=ReloadConfigResponse),
    "quit": OpTypes(response=Ok),
    "openapi": OpTypes(),
    "metrics": OpTypes(),
    "dashboard": OpTypes(request=DashboardRequest, response=DashboardLink),
    "stream": OpTypes(),  # several kinds of events: ringleader/dashboard/PROTOCOL.md
    "cluster_overview": OpTypes(response=ClusterOverview),
    "cluster_drain": OpTypes(response=Ok),
    "cluster_undrain": OpTypes(response=Ok),
}
TYPES["set_post"] = TYPES["set"]
TYPES["rm_post"] = TYPES["rm"]
