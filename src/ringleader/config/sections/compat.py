"""Watcher options that come from supervisord and circus: their normalisers, the rules
between them, circus's free-form options, and the hints for supervisord names written in a
native or circus section.

``sections.watcher`` calls these; they report to the same ``Report``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ringleader.config.model import SUPERVISOR_EVENT_TYPES
from ringleader.config.report import Report
from ringleader.config.values import (
    BadValue,
    plain_name_problem,
    show,
    to_bool,
    to_float,
    to_int,
    to_names,
    to_str,
)

Normaliser = Callable[[Any], Any]

# $(ringleader.wid), $(circus.wid), with a format spec: $(ringleader.wid:02d)
WID_REF = re.compile(r"\$\((?:circus|ringleader)\.wid(?::[^)]*)?\)|"
                     r"\(\((?:circus|ringleader)\.wid(?::[^)]*)?\)\)", re.I)
_MAX_PORT = 65535


def to_respawn(value: Any) -> bool | str:
    """true/false (every boolean spelling), or "unexpected" (supervisord autorestart)."""
    if isinstance(value, str) and value.strip().lower() == "unexpected":
        return "unexpected"
    try:
        return to_bool(value)
    except BadValue:
        raise BadValue('true, false or "unexpected"') from None


def to_exit_codes(value: Any) -> list[int]:
    """[0, 2] or "0,2" (supervisord exitcodes): each 0-255, at least one."""
    expected = 'exit codes 0-255: a list such as [0, 2], or "0,2"'
    items: list[Any]
    if isinstance(value, str):
        items = [v for v in value.replace(",", " ").split()]
    elif isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise BadValue(expected)
    try:
        codes = [to_int(v, minimum=0, maximum=255, too_big=expected) for v in items]
    except BadValue:
        raise BadValue(expected) from None
    if not codes:
        raise BadValue(expected)
    return list(dict.fromkeys(codes))


def to_events(value: Any) -> list[str]:
    """supervisord event type names ("PROCESS_STATE, TICK_60"), upper-cased, known ones."""
    names = [n.upper() for n in to_names(value)]
    unknown = sorted(set(names) - SUPERVISOR_EVENT_TYPES)
    if unknown:
        raise BadValue("supervisord event types such as PROCESS_STATE, PROCESS_STATE_EXITED, "
                       "TICK_5, TICK_60", f"unknown event type {', '.join(unknown)}")
    return list(dict.fromkeys(names))


def _port(value: Any) -> int:
    return to_int(value, minimum=1, maximum=_MAX_PORT,
                  too_big=f"a port number between 1 and {_MAX_PORT}")


def _free_form(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadValue("a table of NAME = value")
    return {k: v if isinstance(v, str) else show(v).strip('"') for k, v in value.items()}


COMPAT_FIELDS: dict[str, Normaliser] = {
    "respawn": to_respawn, "exit_codes": to_exit_codes, "start_secs": to_float,
    "start_retries": lambda v: to_int(v, minimum=0), "process_name": to_str,
    "wid_start": lambda v: to_int(v, minimum=0), "redirect_stderr": to_bool,
    "kill_children": to_bool, "close_child_stdout": to_bool, "close_child_stderr": to_bool,
    "executable": to_str, "virtualenv": to_str, "virtualenv_py_ver": to_str,
    "send_hup": to_bool, "on_demand": to_bool, "stdin_socket": to_str, "port_base": _port,
    "events": to_events, "buffer_size": lambda v: to_int(v, minimum=1), "extra": _free_form,
}

# supervisord's [program:x] names -> the native ones, for a hint when one is written in a
# native or circus section (where it is unknown).
SUPERVISORD_NAMES: dict[str, str] = {
    "command": "cmd", "numprocs": "numprocesses", "numprocs_start": "wid_start",
    "autorestart": 'respawn (true, false or "unexpected")', "exitcodes": "exit_codes",
    "startsecs": "start_secs", "startretries": "start_retries", "stopsignal": "stop_signal",
    "stopwaitsecs": "graceful_timeout", "stopasgroup": "stop_children",
    "killasgroup": "kill_children", "directory": "working_dir", "user": "uid",
    "environment": "env", "stdout_logfile": "stdout_stream.filename",
    "stderr_logfile": "stderr_stream.filename",
}


def supervisord_hint(key: str) -> str | None:
    native = SUPERVISORD_NAMES.get(key)
    if native is None:
        return None
    return (f"unknown option: {key} is supervisord's name; here it is {native} (or run the "
            "supervisord.conf as it is: `ringleader run supervisord.conf`)")


def is_close(key: str, candidates: Iterable[str]) -> bool:
    import difflib

    return bool(difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.7))


def _bad_spec(text: str) -> str | None:
    """The first format spec of a $(ringleader.wid:SPEC) in `text` that no number takes
    (else every process would get the reference as written, all of them alike)."""
    for m in WID_REF.finditer(text):
        spec = m.group(0).partition(":")[2].rstrip(")")
        try:
            format(1, spec)
        except ValueError:
            return spec
    return None


def check_compat(out: dict[str, Any], given: Mapping[str, Any], where: str,
                 report: Report) -> None:
    """Rules between the options above and the others of the same watcher."""
    name = out.get("process_name")
    if isinstance(name, str):
        literal = WID_REF.sub("0", name)
        bad = _bad_spec(name)
        if bad is not None:
            report.error(where, "process_name", f"{show(name)}: {bad!r} is no format for a "
                         "number (02d is one)")
        elif ":" in literal:
            report.error(where, "process_name", f"{show(name)}: no ':' (it separates a "
                         "group from a process in selectors)")
        elif plain_name_problem(literal) is not None:
            report.error(where, "process_name", f"expected letters, digits, '_', '.', '-' "
                         f"and $(ringleader.wid), got {show(name)}")
        elif out.get("numprocesses", 1) > 1 and not WID_REF.search(name):
            report.error(where, "process_name", f"{show(name)} would be the name of every "
                         "process: with numprocesses > 1 it needs $(ringleader.wid)")
    if out.get("events"):
        if out.get("redirect_stderr"):
            report.error(where, "redirect_stderr", "true is not allowed for an event "
                         "listener (stderr would interfere with the event protocol)")
        if out.get("stdin_socket"):
            report.error(where, "stdin_socket", "an event listener's stdin carries the "
                         "events (expected no stdin_socket)")
    if out.get("on_demand") and not (out.get("use_sockets") or out.get("sockets")):
        report.error(where, "on_demand", "true needs a socket to wait on (expected "
                     "use_sockets = true or sockets = [...])")
    if "virtualenv_py_ver" in out and "virtualenv" not in out and "virtualenv" not in given:
        report.error(where, "virtualenv_py_ver", "given without virtualenv")
    if out.get("virtualenv_py_ver") is not None and not re.fullmatch(
            r"\d+\.\d+", out["virtualenv_py_ver"]):
        report.error(where, "virtualenv_py_ver", f"expected a version such as \"3.11\", got "
                     f"{show(out['virtualenv_py_ver'])}")
