"""One ``[program:x]``, ``[eventlistener:x]`` or ``[fcgi-program:x]`` section of a
supervisord.conf -> one native watcher table (and, for a FastCGI program, its socket).

Option meanings follow supervisord (supervisor/options.py ``processes_from_section``, read for
its behaviour); where the native model has no such option yet, the native option phase 2
adds is emitted (``respawn = "unexpected"``, ``exit_codes``, ``start_secs``,
``start_retries``, ``process_name``, ``wid_start``, ``redirect_stderr``, ``kill_children``,
``events``, ``buffer_size``, ``stdin_socket``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ringleader.config.dialects.supervisord_values import (
    PROCESS_NUM,
    Invalid,
    Value,
    expand,
    to_bool,
    to_byte_size,
    to_env_pairs,
    to_exitcodes,
    to_int,
    to_logfile,
    to_names,
    to_octal,
    to_restart,
    to_signal,
)
from ringleader.config.dialects.translation import NATIVE_NAME, Findings
from ringleader.config.model import SUPERVISOR_EVENT_TYPES

_COMMON = (
    "command", "process_name", "numprocs", "numprocs_start", "priority", "autostart",
    "autorestart", "startsecs", "startretries", "exitcodes", "stopsignal", "stopwaitsecs",
    "stopasgroup", "killasgroup", "user", "redirect_stderr", "environment", "directory",
    "umask", "serverurl",
    *(f"{ch}_{opt}" for ch in ("stdout", "stderr") for opt in (
        "logfile", "logfile_maxbytes", "logfile_backups", "capture_maxbytes",
        "events_enabled", "syslog")),
)
OPTIONS: dict[str, tuple[str, ...]] = {
    "program": _COMMON,
    "eventlistener": (*_COMMON, "events", "buffer_size", "result_handler"),
    "fcgi-program": (*_COMMON, "socket", "socket_backlog", "socket_owner", "socket_mode"),
}
EVENT_TYPES = SUPERVISOR_EVENT_TYPES
_DEFAULT_HANDLER = "supervisor.dispatchers:default_handler"
_BAD_NAME_CHARS = " :/"  # supervisord's process_or_group_name
# what the native loader expands in env values (config/substitute.py): ${NAME}, $UPPER
_NATIVE_DOLLAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Z]")
_ANY_EXPANSION = re.compile(r"%\([^)]*\)[#0\- +]*\d*(?:\.\d+)?[A-Za-z]")


@dataclass(frozen=True)
class Context:
    """What a program section sees of the rest of the file."""

    where: str  # "FILE: [program:web]"
    here: str  # directory of the file the section is in
    host: str  # %(host_node_name)s
    group: str  # %(group_name)s: its [group:x], or its own name
    file_env: Mapping[str, str]  # [supervisord] environment, as env values
    file_env_names: Mapping[str, str]  # the same as %(ENV_X)s gives it in other options
    env_ref: Callable[[str], str | None]  # %(ENV_X)s of the controller's environment
    env_value_ref: Callable[[str], str | None]  # the same inside an env value
    childlogdir: str | None  # given in [supervisord]: AUTO logs go there
    directory: str | None  # [supervisord] directory: the default working directory


class _Section:
    """Reads one section's options with supervisord's expansions; a bad value is recorded
    as a problem and read as absent."""

    def __init__(self, kind: str, name: str, options: Mapping[str, str], ctx: Context,
                 findings: Findings) -> None:
        self.kind = kind
        self.name = name
        self.target = ("watchers", name)
        self.auto_console = False  # an AUTO log went to the controller's output
        self.options = options
        self.ctx = ctx
        self.findings = findings
        self.names: dict[str, Value] = {
            "here": ctx.here, "program_name": name, "group_name": ctx.group,
            "host_node_name": ctx.host,
            **{f"ENV_{k}": v for k, v in ctx.file_env_names.items()},
        }
        self.process_names = dict(self.names)

    def raw(self, option: str) -> str | None:
        return self.options.get(option)

    def get(self, option: str, *, per_process: bool = False,
            env_value: bool = False) -> str | None:
        raw = self.options.get(option)
        if raw is None:
            return None
        names = self.process_names if per_process else self.names
        try:
            return expand(raw, names, self.ctx.env_value_ref if env_value else self.ctx.env_ref)
        except Invalid as exc:
            self.findings.error(self.ctx.where, option, str(exc))
            return None

    def parse(self, option: str, parser: Callable[[str], Any], default: Any, *,
              per_process: bool = False) -> Any:
        text = self.get(option, per_process=per_process)
        if text is None:
            return default
        try:
            return parser(text)
        except Invalid as exc:
            self.findings.error(self.ctx.where, option, str(exc))
            return default


@dataclass(frozen=True)
class ProgramTables:
    watcher: dict[str, Any]
    socket: dict[str, Any] | None  # a FastCGI program's socket
    auto_console: bool  # an AUTO log file became the controller's output


def translate_program(kind: str, name: str, options: Mapping[str, str], ctx: Context,
                      findings: Findings) -> ProgramTables:
    """Problems go to *findings*: the caller checks them before using the tables."""
    s = _Section(kind, name, options, ctx, findings)
    where = ctx.where
    target = s.target
    for option in options:
        if option not in OPTIONS[kind] and not findings.unknown(where, option, list(OPTIONS[kind])):
            findings.note(f"{where} {option}", "not a supervisord option, ignored", target)
    if not NATIVE_NAME.match(name):
        findings.error(where, "", f"the name {name!r} is not usable here (expected letters, "
                       "digits, '_', '.' and '-')")
    w: dict[str, Any] = {}
    numprocs = s.parse("numprocs", lambda t: to_int(t, minimum=0), 1)
    start = s.parse("numprocs_start", lambda t: to_int(t, minimum=0), 0)
    s.process_names.update(numprocs=numprocs,
                           process_num=PROCESS_NUM if numprocs != 1 else start)
    # the program's own environment, visible as %(ENV_X)s to its later options (where a
    # reference to the controller's environment is written differently than in env values)
    env = dict(ctx.file_env)
    env.update(_env_pairs(s, env_value=True))
    s.process_names.update({f"ENV_{k}": v for k, v in _env_pairs(s, env_value=False).items()})
    if "environment" in options:
        note_literal_dollars(options["environment"], where, findings, (*target, "env"))
    command = s.get("command", per_process=True)
    if command is None or not command.strip():
        findings.error(where, "command", "missing (expected the command to run)")
    w["cmd"] = command or ""
    if numprocs != 1:
        w["numprocesses"] = numprocs
        if start != 1:
            w["wid_start"] = start  # process_num runs from numprocs_start
    _process_name(s, name, numprocs, w)
    _lifecycle(s, kind, w)
    w["copy_env"] = True  # a supervisord child inherits supervisord's environment
    if env:
        w["env"] = env
    directory = s.get("directory", per_process=True) or ctx.directory
    if directory:
        w["working_dir"] = directory
    user = s.get("user")
    if user:
        w["uid"] = user.strip()
    umask = s.parse("umask", to_octal, None)
    if umask is not None:
        w["umask"] = f"{umask:03o}"
    serverurl = s.get("serverurl")
    if serverurl and serverurl.strip().upper() != "AUTO":
        findings.note(f"{where} serverurl", "dropped: there is no supervisord XML-RPC "
                      "server for SUPERVISOR_SERVER_URL to point to", target)
    _streams(s, w)
    socket = None
    if kind == "eventlistener":
        _listener(s, w)
    elif kind == "fcgi-program":
        socket = _fcgi_socket(s)
        w["stdin_socket"] = name  # FastCGI programs accept on their stdin
    return ProgramTables(w, socket, s.auto_console)


def _env_pairs(s: _Section, *, env_value: bool) -> dict[str, str]:
    text = s.get("environment", per_process=True, env_value=env_value)
    if text is None:
        return {}
    try:
        return to_env_pairs(text)
    except Invalid as exc:
        if env_value:  # the same text twice: report it once
            s.findings.error(s.ctx.where, "environment", str(exc))
        return {}


def _process_name(s: _Section, name: str, numprocs: int, w: dict[str, Any]) -> None:
    raw = s.raw("process_name")
    if raw is None:
        if numprocs > 1:
            s.findings.error(s.ctx.where, "process_name", "missing: %(process_num) must be "
                             "present within process_name when numprocs > 1")
        else:
            w["process_name"] = name  # supervisord's default, %(program_name)s
        return
    if numprocs > 1 and "%(process_num)" not in raw:
        s.findings.error(s.ctx.where, "process_name", "%(process_num) must be present within "
                         "process_name when numprocs > 1")
        return
    text = s.get("process_name", per_process=True)
    if text is None:
        return
    text = text.strip()
    literal = re.sub(r"\$\(ringleader\.wid[^)]*\)", "", text)
    bad = [c for c in _BAD_NAME_CHARS if c in literal]
    if bad or not text:
        s.findings.error(s.ctx.where, "process_name", f"{text!r} is not a valid process "
                         "name (no spaces, ':' or '/')")
    else:
        w["process_name"] = text  # status shows it (NAME.WID is the native default)


def _lifecycle(s: _Section, kind: str, w: dict[str, Any]) -> None:
    """Start order, start/restart/stop semantics."""
    default_priority = -1 if kind == "eventlistener" else 999
    priority = s.parse("priority", to_int, default_priority)
    if 999 - priority:
        w["priority"] = 999 - priority  # supervisord: lower first; native: higher first
    if not s.parse("autostart", to_bool, True):
        w["autostart"] = False
    w["respawn"] = s.parse("autorestart", to_restart, "unexpected")
    codes = s.parse("exitcodes", to_exitcodes, [0])
    if codes != [0]:
        w["exit_codes"] = codes
    w["start_secs"] = s.parse("startsecs", lambda t: to_int(t, minimum=0), 1)
    w["start_retries"] = s.parse("startretries", lambda t: to_int(t, minimum=0), 3)
    stop_signal = s.parse("stopsignal", to_signal, "SIGTERM")
    if stop_signal != "SIGTERM":
        w["stop_signal"] = stop_signal
    w["graceful_timeout"] = s.parse("stopwaitsecs", lambda t: to_int(t, minimum=0), 10)
    stopasgroup = s.parse("stopasgroup", to_bool, False)
    killasgroup = s.parse("killasgroup", to_bool, stopasgroup)
    if stopasgroup and not killasgroup:
        s.findings.error(s.ctx.where, "killasgroup", "cannot be false with stopasgroup=true")
    elif stopasgroup:
        w["stop_children"] = True  # stop signal and SIGKILL to the process group
    elif killasgroup:
        w["kill_children"] = True  # only SIGKILL goes to the process group


def _streams(s: _Section, w: dict[str, Any]) -> None:
    redirect = s.parse("redirect_stderr", to_bool, False)
    if redirect:
        if s.kind == "eventlistener":
            s.findings.error(s.ctx.where, "redirect_stderr", "true is not allowed for an "
                             "event listener: it would interfere with the event protocol")
        w["redirect_stderr"] = True
    target = s.target
    for ch in ("stdout", "stderr"):
        where = f"{s.ctx.where} {ch}_"
        logfile = s.parse(f"{ch}_logfile", to_logfile, "AUTO", per_process=True)
        max_bytes = s.parse(f"{ch}_logfile_maxbytes", to_byte_size, 50 << 20)
        backups = s.parse(f"{ch}_logfile_backups", lambda t: to_int(t, minimum=0), 10)
        syslog = s.parse(f"{ch}_syslog", to_bool, False) or logfile == "SYSLOG"
        if s.parse(f"{ch}_capture_maxbytes", to_byte_size, 0):
            s.findings.note(where + "capture_maxbytes", "dropped: capture mode "
                            "(PROCESS_COMMUNICATION events) is not supported", target)
        if s.parse(f"{ch}_events_enabled", to_bool, False):
            s.findings.note(where + "events_enabled", "dropped: PROCESS_LOG events are not "
                            "supported", target)
        if syslog:
            s.findings.note(where + "syslog", "dropped: output to syslog is not supported",
                            target)
        if ch == "stderr" and redirect:
            if logfile not in ("AUTO", "NONE", "SYSLOG"):
                s.findings.note(where + "logfile", "ignored: stderr goes to stdout "
                                "(redirect_stderr = true), as in supervisord", target)
            continue
        stream = _stream(logfile, max_bytes, backups, s.ctx.childlogdir,
                         w.get("process_name", s.name), ch)
        if stream is not None:
            w[f"{ch}_stream"] = stream
        elif logfile == "AUTO":
            s.auto_console = True


def _stream(logfile: str, max_bytes: int, backups: int, childlogdir: str | None,
            process_name: str, ch: str) -> dict[str, Any] | None:
    if logfile == "NONE":
        return {"kind": "null"}
    if logfile in ("AUTO", "SYSLOG"):
        if logfile == "SYSLOG" or childlogdir is None:
            return None  # the controller's output and `ringleader logs` (noted once)
        logfile = os.path.join(childlogdir, f"{process_name}-{ch}.log")
    return {"kind": "file", "filename": logfile, "max_bytes": max_bytes,
            "backup_count": backups}


def note_literal_dollars(raw: str, where: str, findings: Findings,
                         target: tuple[str, ...]) -> None:
    """supervisord passes '$' in an environment value literally; the native loader expands
    $NAME and ${NAME} in env values. Read on the text as written (before %(ENV_X)s, which
    becomes ${X} on purpose)."""
    plain = _ANY_EXPANSION.sub("x", raw).replace("%%", "%")
    try:
        pairs = to_env_pairs(plain)
    except Invalid:
        return  # reported once, on the expanded text
    for k, v in pairs.items():
        if _NATIVE_DOLLAR.search(v):
            findings.note(f"{where} environment", f"{k}: the native loader expands $NAME "
                          "in env values; supervisord passed it literally",
                          (*target, k))


def _listener(s: _Section, w: dict[str, Any]) -> None:
    where = s.ctx.where
    events = [e.upper() for e in to_names(s.get("events") or "")]
    if not events:
        s.findings.error(where, "events", "missing (an event listener subscribes to "
                         "events, e.g. events = PROCESS_STATE,TICK_60)")
    unknown = sorted(set(events) - EVENT_TYPES)
    if unknown:
        s.findings.error(where, "events", f"unknown event type {', '.join(unknown)} "
                         f"(expected some of {', '.join(sorted(EVENT_TYPES))})")
    w["events"] = list(dict.fromkeys(events))
    buffer_size = s.parse("buffer_size", lambda t: to_int(t, minimum=1), 10)
    if buffer_size != 10:
        w["buffer_size"] = buffer_size
    handler = s.get("result_handler")
    if handler and handler.strip() != _DEFAULT_HANDLER:
        s.findings.note(f"{where} result_handler", "dropped: a custom result handler is "
                        "a supervisord plugin; the default (OK/FAIL) is used", s.target)


def _fcgi_socket(s: _Section) -> dict[str, Any]:
    where = s.ctx.where
    sock: dict[str, Any] = {}
    text = (s.get("socket") or "").strip()
    if text.startswith("unix://"):
        path = text[len("unix://"):]
        if not os.path.isabs(path):
            s.findings.error(where, "socket", f"the unix socket path {path!r} is not absolute")
        sock.update(family="unix", path=os.path.normpath(path))
        mode = s.parse("socket_mode", to_octal, 0o700)
        sock["mode"] = f"{mode:04o}"
        owner = s.get("socket_owner") or s.get("user")
        if owner:
            user, _, group = owner.partition(":")
            sock["owner"] = user.strip()
            if group.strip():
                sock["group"] = group.strip()
    elif text.startswith("tcp://") and text.count(":") == 2 and text.rsplit(":", 1)[1].isdigit():
        host, _, port = text[len("tcp://"):].rpartition(":")
        sock.update(host=host, port=int(port))
        for option in ("socket_owner", "socket_mode"):
            if s.raw(option) is not None:
                s.findings.error(where, option, "only for a unix socket (unix:///path)")
    else:
        s.findings.error(where, "socket", f"expected tcp://HOST:PORT or unix:///PATH, got "
                         f"{text!r}")
    backlog = s.parse("socket_backlog", lambda t: to_int(t, minimum=1), None)
    if backlog is not None:
        sock["backlog"] = backlog
    return sock
