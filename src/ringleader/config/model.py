"""Typed, frozen configuration models.

These Structs are the contract between the config loader and the engine: the
engine never reads files, it takes these (or plain dicts converted by
``watcher_from_dict``). Field names follow circus where circus has one.
"""

from __future__ import annotations

import signal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

StreamClass = Literal["console", "file", "null"]
RotateWhen = Literal["S", "M", "H", "D", "MIDNIGHT", "W0", "W1", "W2", "W3", "W4", "W5", "W6"]

NonNegFloat = Annotated[float, Meta(ge=0)]
NonNegInt = Annotated[int, Meta(ge=0)]

# rlimit_* option suffixes accepted (circus names), mapped to resource.RLIMIT_*.
RLIMIT_NAMES: frozenset[str] = frozenset(
    {
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
        "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    }
)


class StreamConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where one output stream (stdout or stderr) of a watcher's processes goes."""

    kind: Annotated[
        StreamClass,
        Meta(description="console: the controller's output with a 'name.wid |' prefix; "
             "file: a log file; null: discarded"),
    ] = "console"
    filename: Annotated[str | None, Meta(description="log file path (kind=file)")] = None
    max_bytes: Annotated[NonNegInt, Meta(description="rotate when the file would exceed "
                                         "this size; 0 disables size rotation")] = 0
    backup_count: Annotated[NonNegInt, Meta(description="rotated files kept")] = 5
    rotate_when: Annotated[RotateWhen | None, Meta(description="time rotation unit, as "
                                                   "logging.TimedRotatingFileHandler")] = None
    rotate_interval: Annotated[int, Meta(ge=1, description="time rotation interval")] = 1
    utc: bool = False
    time_format: Annotated[str | None, Meta(description="strftime format prefixed to every "
                                            "line; unset for no timestamps")] = None
    color: Annotated[bool | None, Meta(description="colour the console prefix; default: "
                                       "when the output is a terminal")] = None


def _default_stop_signal() -> int:
    return int(signal.SIGTERM)


class WatcherConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A named group of identical processes."""

    name: Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]
    cmd: Annotated[str, Meta(min_length=1, description="command line, split with shlex "
                             "unless shell=true")]
    args: Annotated[list[str], Meta(description="extra arguments appended to cmd")] = []
    shell: bool = False
    numprocesses: NonNegInt = 1
    autostart: bool = True
    respawn: bool = True
    warmup_delay: Annotated[NonNegFloat, Meta(description="seconds between two spawns")] = 0.0
    priority: Annotated[int, Meta(description="higher starts first, stops last")] = 0
    singleton: Annotated[bool, Meta(description="at most one process")] = False
    working_dir: str | None = None
    env: dict[str, str] = {}
    copy_env: Annotated[bool, Meta(description="start from the controller's environment")] = False
    copy_path: Annotated[bool, Meta(description="pass the controller's PATH/sys.path")] = False
    uid: int | None = None
    gid: int | None = None
    umask: Annotated[int, Meta(ge=0, le=0o777)] | None = None
    rlimits: Annotated[dict[str, int], Meta(description="rlimit_NAME options: NAME -> limit "
                                            "(-1 for unlimited)")] = {}
    stop_signal: Annotated[int, Meta(ge=1, le=64)] = msgspec.field(
        default_factory=_default_stop_signal)
    graceful_timeout: Annotated[NonNegFloat, Meta(description="seconds between the stop "
                                                  "signal and SIGKILL")] = 30.0
    stop_children: Annotated[bool, Meta(description="also signal the process's children "
                                        "(its whole process group)")] = False
    max_age: Annotated[NonNegFloat, Meta(description="recycle a process after this many "
                                         "seconds; 0 disables")] = 0.0
    max_age_variance: NonNegFloat = 30.0
    close_child_stdin: bool = True
    stdout_stream: StreamConfig = StreamConfig()
    stderr_stream: StreamConfig = StreamConfig()


class ControllerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The [ringleader] (circus: [circus]) section."""

    endpoint: Annotated[str | None, Meta(description="unix:PATH of the control socket")] = None
    pidfile: str | None = None
    loglevel: Literal["debug", "info", "warning", "error", "critical"] = "info"
    logoutput: Annotated[str, Meta(description="'-' for stderr, or a file path")] = "-"
    warmup_delay: NonNegFloat = 0.0
    umask: Annotated[int, Meta(ge=0, le=0o777)] | None = None


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole loaded configuration."""

    controller: ControllerConfig = ControllerConfig()
    watchers: list[WatcherConfig] = []
    source: Annotated[str | None, Meta(description="path of the file it came from")] = None
    warnings: list[str] = []
