"""supervisord's own reading of a config (supervisor.options.ServerOptions) and the processes
a translated native document describes, in one comparable shape: a translation is right when
both give the same processes with the same settings."""

from __future__ import annotations

import os
import pwd
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor import datatypes
from supervisor.events import getEventNameByType
from supervisor.options import EventListenerPoolConfig, ServerOptions

_WID = re.compile(r"\$\(ringleader\.wid(?::([^)]*))?\)")
_ENV_REF = re.compile(r"\$\(ringleader\.env\.([\w.\-]+)\)|\$\{(\w+)\}")


@dataclass(frozen=True)
class Log:
    target: str | None  # a path, "AUTO", or None (NONE / redirected)
    max_bytes: int | None = None  # for a path only
    backups: int | None = None


@dataclass(frozen=True)
class ProcessView:
    command: str
    environment: tuple[tuple[str, str], ...]
    directory: str | None
    uid: int | None
    umask: int | None
    group_priority: int  # the start order of its group (supervisord's numbers)
    priority: int | None  # within the group (None for event listener pools)
    autostart: bool
    autorestart: bool | str
    exitcodes: tuple[int, ...]
    startsecs: int
    startretries: int
    stopsignal: int
    stopwaitsecs: int
    stopasgroup: bool
    killasgroup: bool
    redirect_stderr: bool
    stdout: Log
    stderr: Log
    events: frozenset[str] | None = None
    buffer_size: int | None = None


def _log(target: Any, max_bytes: int, backups: int) -> Log:
    if target is datatypes.Automatic:
        return Log("AUTO")
    if target is None:
        return Log(None)
    return Log(target, max_bytes, backups)


def _restart(value: Any) -> bool | str:
    if value is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return value is datatypes.RestartUnconditionally


def supervisord_processes(path: Path) -> dict[str, ProcessView]:
    """GROUP:PROCESS -> settings, as supervisord itself reads *path*."""
    options = ServerOptions()
    options.configfile = str(path)
    options.here = str(path.parent)
    section = options.read_config(str(path))
    out: dict[str, ProcessView] = {}
    for group in section.process_group_configs:
        listener = isinstance(group, EventListenerPoolConfig)
        for p in group.process_configs:
            out[f"{group.name}:{p.name}"] = ProcessView(
                command=p.command, environment=tuple(sorted(p.environment.items())),
                directory=p.directory, uid=p.uid, umask=p.umask,
                group_priority=group.priority, priority=None if listener else p.priority,
                autostart=p.autostart, autorestart=_restart(p.autorestart),
                exitcodes=tuple(p.exitcodes), startsecs=p.startsecs,
                startretries=p.startretries, stopsignal=p.stopsignal,
                stopwaitsecs=p.stopwaitsecs, stopasgroup=p.stopasgroup,
                killasgroup=p.killasgroup, redirect_stderr=p.redirect_stderr,
                stdout=_log(p.stdout_logfile, p.stdout_logfile_maxbytes,
                            p.stdout_logfile_backups),
                stderr=_log(p.stderr_logfile, p.stderr_logfile_maxbytes,
                            p.stderr_logfile_backups),
                events=frozenset(getEventNameByType(e) for e in group.pool_events)
                if listener else None,
                buffer_size=group.buffer_size if listener else None)
    return out


def _expand(text: str, wid: int, environ: dict[str, str]) -> str:
    text = _WID.sub(lambda m: format(wid, m.group(1) or ""), text)
    return _ENV_REF.sub(lambda m: environ[m.group(1) or m.group(2)], text)


def _stream(w: dict[str, Any], channel: str, wid: int, environ: dict[str, str]) -> Log:
    if channel == "stderr" and w.get("redirect_stderr"):
        return Log(None)
    stream = w.get(f"{channel}_stream")
    if stream is None:
        return Log("AUTO")
    if stream["kind"] == "null":
        return Log(None)
    return Log(_expand(stream["filename"], wid, environ), stream["max_bytes"],
               stream["backup_count"])


def translated_processes(document: dict[str, Any],
                         environ: dict[str, str] | None = None) -> dict[str, ProcessView]:
    """GROUP:PROCESS -> settings, as the translated document describes them (native
    priorities and option names mapped back)."""
    environ = dict(os.environ) if environ is None else environ
    group_of = {w: g for g, table in document.get("groups", {}).items()
                for w in table["watchers"]}
    out: dict[str, ProcessView] = {}
    for name, w in document.get("watchers", {}).items():
        own = 999 - w.get("priority", 0)
        group = group_of.get(name, name)
        group_priority = 999 - document["groups"][group].get("priority", 0) \
            if name in group_of else own
        count = w.get("numprocesses", 1)
        first = w.get("wid_start", 1)
        for wid in range(first, first + count):
            uid = w.get("uid")
            out[f"{group}:{_expand(w.get('process_name', name), wid, environ)}"] = ProcessView(
                command=_expand(w["cmd"], wid, environ),
                environment=tuple(sorted((k, _expand(v, wid, environ))
                                         for k, v in w.get("env", {}).items())),
                directory=w.get("working_dir"),
                uid=None if uid is None else pwd.getpwnam(uid).pw_uid,
                umask=int(w["umask"], 8) if "umask" in w else None,
                group_priority=group_priority, priority=None if "events" in w else own,
                autostart=w.get("autostart", True), autorestart=w["respawn"],
                exitcodes=tuple(w.get("exit_codes", [0])), startsecs=w["start_secs"],
                startretries=w["start_retries"],
                stopsignal=signal.Signals[w.get("stop_signal", "SIGTERM")],
                stopwaitsecs=w["graceful_timeout"], stopasgroup=w.get("stop_children", False),
                killasgroup=w.get("stop_children", False) or w.get("kill_children", False),
                redirect_stderr=w.get("redirect_stderr", False),
                stdout=_stream(w, "stdout", wid, environ),
                stderr=_stream(w, "stderr", wid, environ),
                events=frozenset(w["events"]) if "events" in w else None,
                buffer_size=w.get("buffer_size", 10) if "events" in w else None)
    return out
