"""Models of the advanced watcher features: respawn policies, auto-scaling, cgroups,
resource watchdog, health checks, hooks, readiness, and of shared sockets.

Each is an optional sub-table of a watcher (`[watchers.NAME.cgroup]`, ...): its presence
enables the feature. Sizes are bytes and durations seconds once loaded (the loader turns
"512M", "1.5G" into bytes).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Seconds = Annotated[float, Meta(ge=0)]
PositiveSeconds = Annotated[float, Meta(gt=0)]
# A period of a repeated check (config.values.MIN_PERIOD: not imported, this is a leaf).
Period = Annotated[float, Meta(ge=0.1)]
Percent = Annotated[float, Meta(ge=0, le=100_000)]


class _Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class FlappingConfig(_Model, frozen=True, kw_only=True):
    """circus flapping: `attempts` deaths within `window` seconds park the process for
    `retry_in` seconds; after `max_retry` such rounds it is given up (0: never)."""

    attempts: Annotated[int, Meta(ge=1, description="deaths that count as flapping")] = 2
    window: Annotated[PositiveSeconds, Meta(description="within this many seconds")] = 1.0
    retry_in: Annotated[Seconds, Meta(description="wait before trying again")] = 7.0
    max_retry: Annotated[int, Meta(ge=0, description="rounds before giving up; 0: "
                                   "never give up")] = 5


class BackoffConfig(_Model, frozen=True, kw_only=True):
    """Exponential backoff between respawns of a process that keeps dying young."""

    initial: Annotated[Seconds, Meta(description="first delay")] = 0.1
    factor: Annotated[float, Meta(ge=1, description="each delay is the previous times "
                                  "this")] = 2.0
    max: Annotated[Seconds, Meta(description="longest delay")] = 30.0
    min_uptime: Annotated[Seconds, Meta(description="a process up this long resets the "
                                        "backoff")] = 1.0
    free_retries: Annotated[int, Meta(ge=0, description="immediate respawns before the "
                                      "first delay")] = 3
    max_retries: Annotated[int, Meta(ge=0, description="young deaths in a row before the "
                                     "process is given up (failed); 0: never")] = 0


class AutoscaleConfig(_Model, frozen=True, kw_only=True):
    """Grow when every process stayed busy, shrink when they stayed idle."""

    min: Annotated[int, Meta(ge=0)] = 1
    max: Annotated[int, Meta(ge=1)]
    step: Annotated[int, Meta(ge=1, description="processes added or removed at once")] = 1
    cooldown: Annotated[Seconds, Meta(description="no decision for this long after "
                                      "one")] = 30.0
    grow_above: Annotated[Percent, Meta(description="CPU % of one core at or above which "
                                        "a process is busy")] = 80.0
    grow_after: Annotated[Seconds, Meta(description="how long all must stay busy")] = 10.0
    shrink_below: Annotated[Percent, Meta(description="CPU % below which a process is "
                                          "idle")] = 10.0
    shrink_after: Annotated[Seconds, Meta(description="how long all must stay idle")] = 60.0
    interval: Annotated[Period, Meta(description="sampling period")] = 2.0


class CgroupConfig(_Model, frozen=True, kw_only=True):
    """A cgroup of the watcher's own: every process of it, descendants included."""

    memory_limit: Annotated[int, Meta(ge=4096, description="bytes (memory.max)")] | None = None
    cpu_quota: Annotated[float, Meta(gt=0, description="CPUs, e.g. 1.5 (cpu.max)")] | None = None
    cpu_weight: Annotated[int, Meta(ge=1, le=10_000, description="cpu.weight")] | None = None
    pids_limit: Annotated[int, Meta(ge=1, description="most tasks (pids.max)")] | None = None
    parent: Annotated[str, Meta(description="parent cgroup, relative to the hierarchy's "
                                "root")] = "ringleader"


class WatchdogConfig(_Model, frozen=True, kw_only=True):
    """Restart a process whose memory or CPU stays above a limit for `checks` checks."""

    max_rss: Annotated[int, Meta(ge=1, description="bytes, children included")] | None = None
    max_cpu: Annotated[Percent, Meta(description="CPU % of one core")] | None = None
    checks: Annotated[int, Meta(ge=1, description="consecutive checks over the limit")] = 3
    interval: Period = 5.0


class HealthCheckConfig(_Model, frozen=True, kw_only=True):
    """Probe each process; restart it after `failures` failed probes in a row."""

    kind: Literal["http", "tcp", "command"]
    url: Annotated[str, Meta(description="http: GET this URL; 2xx/3xx is healthy; "
                             "$(ringleader.wid) is substituted")] | None = None
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535, description="tcp: connect here")] | None = None
    command: Annotated[str, Meta(description="command: exit 0 is healthy")] | None = None
    interval: Period = 10.0
    timeout: PositiveSeconds = 5.0
    failures: Annotated[int, Meta(ge=1, description="failed probes in a row")] = 3
    start_period: Annotated[Seconds, Meta(description="failures ignored this long after "
                                          "a start")] = 0.0


HookName = Literal[
    "before_start", "after_start", "before_spawn", "after_spawn", "before_stop", "after_stop",
    "before_signal", "after_signal", "before_reap", "after_reap", "extended_stats",
]


class HookConfig(_Model, frozen=True, kw_only=True):
    """A Python callable by dotted path (`pkg.module.func`) or a shell command."""

    target: Annotated[str, Meta(min_length=1)]
    kind: Literal["python", "shell"] = "python"
    timeout: PositiveSeconds = 30.0
    abort_on_failure: Annotated[bool, Meta(description="a failure (or timeout) cancels "
                                           "the action (before_* hooks)")] = True


class SocketConfig(_Model, frozen=True, kw_only=True):
    """A listening socket bound by the controller and inherited by workers."""

    name: Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]
    family: Literal["inet", "inet6", "unix"] = "inet"
    type: Annotated[Literal["stream", "dgram"], Meta(
        description="stream (TCP, or a unix stream socket) or dgram (UDP, a unix datagram "
        "socket: bound, never listening; circus SOCK_DGRAM)")] = "stream"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 0
    path: Annotated[str, Meta(description="unix socket path")] | None = None
    backlog: Annotated[int, Meta(ge=1)] = 2048
    so_reuseport: bool = False
    mode: Annotated[int, Meta(ge=0, le=0o777, description="unix socket mode")] | None = None
    owner: Annotated[int, Meta(description="unix socket owner uid")] | None = None
    group: Annotated[int, Meta(description="unix socket group gid")] | None = None


Readiness = Literal["warmup", "notify", "health"]
