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

from ringleader.config.cluster import ClusterSettings
from ringleader.config.features import (
    AutoscaleConfig,
    BackoffConfig,
    CgroupConfig,
    FlappingConfig,
    HealthCheckConfig,
    HookConfig,
    HookName,
    Readiness,
    SocketConfig,
    WatchdogConfig,
)

StreamClass = Literal["console", "file", "null", "custom"]
# circus FancyStdoutStream's colour names (ANSI 30-37)
ColourName = Literal["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]
Respawn = bool | Literal["unexpected"]
ExitCode = Annotated[int, Meta(ge=0, le=255)]
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

# supervisor.events.EventTypes: what an event listener may subscribe to
SUPERVISOR_EVENT_TYPES: frozenset[str] = frozenset({
    "EVENT", "PROCESS_STATE", "PROCESS_STATE_STOPPED", "PROCESS_STATE_EXITED",
    "PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPING", "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_FATAL", "PROCESS_STATE_RUNNING", "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION", "PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG", "PROCESS_LOG_STDOUT", "PROCESS_LOG_STDERR", "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE", "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING", "TICK", "TICK_5", "TICK_60", "TICK_3600",
    "PROCESS_GROUP", "PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED",
})


class StreamConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where one output stream (stdout or stderr) of a watcher's processes goes."""

    kind: Annotated[
        StreamClass,
        Meta(description="console: the controller's output with a 'name.wid |' prefix; "
             "file: a log file; null: discarded; custom: a Python class (class_path)"),
    ] = "console"
    class_path: Annotated[str | None, Meta(description="kind=custom: dotted path of a class "
                                           "with circus's stream interface (built with "
                                           "the options as keyword arguments, called with "
                                           "{'data', 'pid', 'name'} per chunk)")] = None
    options: Annotated[dict[str, str], Meta(description="extra keyword arguments: those of "
                                            "a custom class; those circus stream classes "
                                            "take and Ringleader does not need are kept "
                                            "here, unused")] = {}
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
    color: Annotated[bool | ColourName | None, Meta(
        description="colour the console prefix (true/false), or in this colour (circus "
        "FancyStdoutStream: red, green, ...); default: when the output is a terminal")] = None


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
    respawn: Annotated[Respawn, Meta(description='respawn a process that exits on its own: '
                                     'true, false, or "unexpected": only when its exit code '
                                     'is not in exit_codes (death by a signal is '
                                     'unexpected; supervisord autorestart)')] = True
    exit_codes: Annotated[list[ExitCode], Meta(
        description='the expected exit codes (respawn = "unexpected"; supervisord '
        'exitcodes); an exit with one is logged as info, others as warnings',
    )] = msgspec.field(default_factory=lambda: [0])
    start_secs: Annotated[NonNegFloat, Meta(description="a process is running once up this "
                                            "long; an exit before is a failed start, retried "
                                            "after 1, 2, 3... s up to start_retries times, "
                                            "then failed (supervisord startsecs); 0: off")] = 0.0
    start_retries: Annotated[NonNegInt, Meta(description="failed starts (start_secs) "
                                             "retried before the slot is given up "
                                             "(supervisord startretries)")] = 3
    process_name: Annotated[str | None, Meta(description="name of each process in status "
                                             "and selectors, with $(ringleader.wid) (default: "
                                             "NAME.WID; supervisord process_name)")] = None
    wid_start: Annotated[NonNegInt, Meta(description="the number $(ringleader.wid) gives the "
                                         "first process (supervisord numprocs_start)")] = 1
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
    close_child_stdout: Annotated[bool, Meta(description="give the processes /dev/null as "
                                             "stdout (circus)")] = False
    close_child_stderr: Annotated[bool, Meta(description="give the processes /dev/null as "
                                             "stderr (circus)")] = False
    redirect_stderr: Annotated[bool, Meta(description="stderr goes down the stdout pipe, "
                                          "in order (supervisord)")] = False
    kill_children: Annotated[bool, Meta(description="the final SIGKILL goes to the "
                                        "process's whole process group (supervisord "
                                        "killasgroup); stop_children implies it")] = False
    stdout_stream: StreamConfig = StreamConfig()
    stderr_stream: StreamConfig = StreamConfig()
    executable: Annotated[str | None, Meta(description="the program to run; cmd's first word "
                                           "is then only argv[0] (circus)")] = None
    virtualenv: Annotated[str | None, Meta(description="a virtualenv folder: its bin/ first "
                                           "in PATH, its site-packages in PYTHONPATH, "
                                           "VIRTUAL_ENV set (circus)")] = None
    virtualenv_py_ver: Annotated[str | None, Meta(description="the Python version of the "
                                                  "virtualenv's lib/pythonX.Y (circus)")] = None
    send_hup: Annotated[bool, Meta(description="reload sends SIGHUP instead of replacing the "
                                   "processes (circus)")] = False
    on_demand: Annotated[bool, Meta(description="start on the first connection to one of its "
                                    "sockets, not with the controller (circus)")] = False
    stdin_socket: Annotated[str | None, Meta(description="a socket passed as the processes' "
                                             "stdin (circus; supervisord fcgi-program)")] = None
    port_base: Annotated[Annotated[int, Meta(ge=1, le=65535)] | None, Meta(
        description="PORT = port_base + the process's index (0 for the first) in each "
        "process's environment (Procfile)")] = None
    events: Annotated[list[str], Meta(description="supervisord event types this watcher "
                                      "listens to: its processes speak supervisord's event "
                                      "listener protocol (READY/RESULT) on stdin/stdout")] = []
    buffer_size: Annotated[int, Meta(ge=1, description="events queued for an event listener "
                                     "pool; beyond, the oldest is dropped")] = 10
    extra: Annotated[dict[str, str], Meta(description="free-form options circus keeps for "
                                          "hooks and plugins (unused by Ringleader)")] = {}
    # -- respawn policy: `flapping` (circus semantics) or `backoff` (the default) --------
    flapping: FlappingConfig | None = None
    backoff: BackoffConfig = BackoffConfig()
    autoscale: AutoscaleConfig | None = None
    cgroup: CgroupConfig | None = None
    watchdog: WatchdogConfig | None = None
    health: HealthCheckConfig | None = None
    hooks: dict[HookName, HookConfig] = {}
    # -- sockets, readiness, dependencies ----------------------------------------------
    use_sockets: Annotated[bool, Meta(description="inherit the controller's sockets "
                                      "(and LISTEN_FDS)")] = False
    sockets: Annotated[list[str], Meta(description="only these sockets (default: all, "
                                       "with use_sockets)")] = []
    readiness: Annotated[Readiness, Meta(description="when a process counts as running: "
                                         "after warmup_delay, when it sends READY=1 "
                                         "(sd_notify), or when its health check first "
                                         "passes")] = "warmup"
    ready_timeout: Annotated[NonNegFloat, Meta(description="a process not ready by then "
                                               "is restarted; 0: wait forever")] = 60.0
    watchdog_sec: Annotated[NonNegFloat, Meta(description="sd_notify WATCHDOG=1 must come "
                                              "this often, else restart; 0: off")] = 0.0
    after: Annotated[list[str], Meta(description="start once these watchers are ready; "
                                     "stop before them")] = []
    requires: Annotated[list[str], Meta(description="like after, and stop when one of "
                                        "them fails")] = []
    reload_batch: Annotated[int, Meta(ge=1, description="processes replaced at once by "
                                      "a reload")] = 1


Role = Literal["read", "operate", "admin"]
TOKEN_HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
TCP_NEEDS_AUTH = "a TCP listener needs TLS and a token or a client certificate"


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:5555" / "[::1]:5555" / "localhost:5555" -> (host, port); ValueError if
    malformed. Port 0 (any free port) is allowed: tests use it."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # an IPv6 address must be bracketed, or the port is ambiguous
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f'expected HOST:PORT such as "127.0.0.1:5555" or "[::1]:5555", '
                         f'got "{text}"')
    return host, int(port)


class TcpConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """[ringleader.tcp]: the remote control listener. TLS is mandatory (TLS 1.2 minimum)."""

    listen: Annotated[str, Meta(description='HOST:PORT to listen on, e.g. "127.0.0.1:5555" '
                                'or "[::1]:5555"')]
    tls_cert: Annotated[str, Meta(min_length=1, description="PEM file of the server "
                                  "certificate (chain)")]
    tls_key: Annotated[str, Meta(min_length=1, description="PEM file of the server's "
                                 "private key")]
    client_ca: Annotated[str | None, Meta(description="PEM file of the CAs whose client "
                                          "certificates are accepted; enables client "
                                          "certificates")] = None
    client_cert_required: Annotated[bool, Meta(description="refuse clients without a "
                                               "certificate (else a token is enough)")] = False
    dashboard_hosts: Annotated[list[str] | None, Meta(
        description="the host names (or IP addresses) browsers may reach the web "
                    "dashboard's login by on this listener (DNS rebinding); default: the "
                    "certificate's DNS and IP names; [] serves no dashboard here")] = None

    def __post_init__(self) -> None:
        parse_listen(self.listen)
        if self.client_cert_required and self.client_ca is None:
            raise ValueError("client_cert_required needs client_ca")


class TokenConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """[[ringleader.tokens]]: a bearer token accepted on the TCP listener."""

    name: Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@\-]+$",
                              description="who holds it; the audit log records token:NAME")]
    role: Annotated[Role, Meta(description="read, operate or admin")]
    hash: Annotated[str, Meta(pattern=TOKEN_HASH_PATTERN, description="sha256:HEX, the "
                              "output of `ringleader token hash`; the token itself is never "
                              "stored")]


class ClientCertConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """[[ringleader.client_certs]]: a client certificate (verified against client_ca) by CN."""

    cn: Annotated[str, Meta(min_length=1, description="the certificate subject's common "
                            "name; the audit log records cert:CN")]
    role: Annotated[Role, Meta(description="read, operate or admin")]


class DashboardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """[ringleader.dashboard]: the web dashboard's sessions."""

    session_lifetime: Annotated[float, Meta(gt=0, description="seconds a browser session "
                                            "lasts from its sign-in")] = 12 * 3600.0
    idle_timeout: Annotated[float, Meta(gt=0, description="seconds without a request "
                                        "after which a session ends (an open live view "
                                        "does not count)")] = 3600.0


class ControllerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The [ringleader] (circus: [circus]) section."""

    endpoint: Annotated[str | None, Meta(description="unix:PATH of the control socket")] = None
    pidfile: str | None = None
    loglevel: Literal["debug", "info", "warning", "error", "critical"] = "info"
    logoutput: Annotated[str, Meta(description="'-' for stderr, or a file path")] = "-"
    log_format: Annotated[Literal["auto", "text", "json", "journal"], Meta(
        description="the controller's log: text, json (one object per line) or journal "
                    "(<N> priority prefixes, no timestamp); auto: journal when stderr is "
                    "the journal's stream, else text")] = "auto"
    log_max_bytes: Annotated[NonNegInt, Meta(description="rotate the controller's log file "
                                             "when it would exceed this size; 0 disables "
                                             "size rotation")] = 0
    log_backups: Annotated[NonNegInt, Meta(description="rotated files of the controller's "
                                           "log kept")] = 5
    warmup_delay: Annotated[NonNegFloat, Meta(description="seconds between the starts of "
                                              "two watchers (circus)")] = 0.0
    umask: Annotated[Annotated[int, Meta(ge=0, le=0o777)] | None, Meta(
        description="the controller's umask, which processes inherit")] = None
    user: Annotated[str | None, Meta(description="run as this user (name or uid) once "
                                     "started as root (supervisord user)")] = None
    minfds: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(
        description="open files the controller needs: its RLIMIT_NOFILE is raised to this, "
        "or it refuses to start (supervisord)")] = None
    minprocs: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(
        description="processes the controller's user needs: RLIMIT_NPROC is raised to this, "
        "or it refuses to start (supervisord)")] = None
    allowed_uids: Annotated[list[int], Meta(description="users (names or uids) allowed on the "
                                            "unix socket besides the controller's own user "
                                            "and root")] = []
    allowed_groups: Annotated[list[int], Meta(description="groups (names or gids) whose "
                                              "members are allowed on the unix socket")] = []
    unix_role: Annotated[Role, Meta(description="role of an allowed unix socket peer")] = "admin"
    tcp: Annotated[TcpConfig | None, Meta(description="the TLS TCP listener; none by "
                                          "default")] = None
    tokens: Annotated[list[TokenConfig], Meta(description="bearer tokens (TCP)")] = []
    client_certs: Annotated[list[ClientCertConfig], Meta(description="client certificates "
                                                         "by CN (TCP)")] = []
    statefile: Annotated[str | None, Meta(description="where runtime changes (add, rm, "
                                          "incr, set, stop...) are kept across restarts; "
                                          "default: ringleader.state next to the config "
                                          "file (or in the private runtime folder)")] = None
    audit_log: Annotated[str | None, Meta(description="file recording every mutating API "
                                          "request; default: ringleader-audit.log next to "
                                          "the config file (or in the private runtime "
                                          "folder)")] = None
    audit_required: Annotated[bool, Meta(description="refuse a change the audit log cannot "
                                         "record (503); false: make it anyway, with an "
                                         "error in the controller's log")] = True
    max_body_bytes: Annotated[int, Meta(ge=1, description="largest API request body")] = 1 << 20
    max_connections: Annotated[int, Meta(ge=1, description="concurrent API connections per "
                                         "listener (the unix socket keeps 16 more for the "
                                         "controller's user and root); more are answered "
                                         "503")] = 256
    max_processes: Annotated[int, Meta(ge=1, description="the most processes the controller "
                                       "runs, all watchers together; incr/add/set beyond it "
                                       "are refused")] = 10_000
    dashboard: Annotated[DashboardConfig, Meta(description="the web dashboard's "
                                               "sessions")] = DashboardConfig()

    def __post_init__(self) -> None:
        if self.tcp is not None and not self.tokens and self.tcp.client_ca is None:
            raise ValueError(TCP_NEEDS_AUTH)


class GroupConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """[groups.NAME]: watchers started, stopped and selected together (supervisord
    [group:x]); ``restart NAME:*`` selects them, ``NAME:PROCESS`` one of their processes."""

    name: Annotated[str, Meta(min_length=1, max_length=128)]
    watchers: Annotated[list[str], Meta(min_length=1, description="its watchers (each in "
                                        "one group at most)")]
    priority: Annotated[int, Meta(description="higher starts first, stops last, before the "
                                  "watchers' own priority")] = 0


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole loaded configuration."""

    controller: ControllerConfig = ControllerConfig()
    watchers: list[WatcherConfig] = []
    groups: list[GroupConfig] = []
    sockets: list[SocketConfig] = []
    source: Annotated[str | None, Meta(description="path of the file it came from")] = None
    warnings: list[str] = []
    cluster: Annotated[ClusterSettings | None, Meta(description="[cluster]: this controller "
                                                    "is a node of a cluster")] = None
