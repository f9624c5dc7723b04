"""A watcher section: its option table, its output streams, and its normalisation into
the model (the feature sub-tables: ``sections.features``).

Every front end (TOML, circus INI, plain dicts, ``set``) ends here with a flat
``dict[str, Any]`` per section, so option names, aliases, warnings and error messages are
the same everywhere. Problems are collected in a ``Report``, never raised one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ringleader.config.features import FlappingConfig
from ringleader.config.model import RLIMIT_NAMES, StreamConfig, WatcherConfig
from ringleader.config.report import Dialect, Report, convert
from ringleader.config.sections.compat import (
    COMPAT_FIELDS,
    check_compat,
    is_close,
    supervisord_hint,
)
from ringleader.config.sections.features import (
    FEATURE_TABLES,
    FLAPPING_FLAT,
    TABLE_FIELDS,
    build_features,
    split_features,
)
from ringleader.config.values import (
    BadValue,
    nul_in,
    plain_name_problem,
    show,
    to_args,
    to_bool,
    to_command,
    to_env,
    to_float,
    to_gid,
    to_int,
    to_names,
    to_period_or_off,
    to_rlimit,
    to_signal,
    to_str,
    to_uid,
    to_umask,
)

Normaliser = Callable[[Any], Any]


def _nonneg_int(v: Any) -> int:
    return to_int(v, minimum=0)


def _priority(v: Any) -> int:
    too_big = f"an integer between {-(1 << 31)} and {(1 << 31) - 1}"
    num = to_int(v, too_big=too_big)
    if not -(1 << 31) <= num < 1 << 31:
        raise BadValue(too_big)
    return num


def _numprocesses(v: Any) -> int:
    return to_int(v, minimum=0, maximum=MAX_NUMPROCESSES)


# The model's pattern (also the API schema's, which JSON Schema tools read as an ECMA regex,
# where "$" is the end) lets "web\n" through under Python's "$": plain_name_problem is the rule.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
MAX_NUMPROCESSES = 1_000_000


def check_name(name: str, where: str, report: Report) -> None:
    """A watcher name is a path component and a log prefix: letters, digits, '_', '.',
    '-', never '.' or '..' (what the model's pattern misses; it reports the rest)."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        return
    problem = plain_name_problem(name)
    if problem is not None:
        report.error(where, "name", f"expected {problem}")


def _readiness(v: Any) -> str:
    text = to_str(v).strip().lower()
    if text not in ("warmup", "notify", "health"):
        raise BadValue("warmup, notify or health")
    return text


WATCHER_FIELDS: dict[str, Normaliser] = {
    "cmd": to_str, "args": to_args, "shell": to_bool, "numprocesses": _numprocesses,
    "autostart": to_bool, "warmup_delay": to_float, "priority": _priority,
    "singleton": to_bool, "working_dir": to_str, "env": to_env, "copy_env": to_bool,
    "copy_path": to_bool, "uid": to_uid, "gid": to_gid, "umask": to_umask,
    "stop_signal": to_signal, "graceful_timeout": to_float, "stop_children": to_bool,
    "max_age": to_period_or_off, "max_age_variance": to_float, "close_child_stdin": to_bool,
    "use_sockets": to_bool, "sockets": to_names, "readiness": _readiness,
    "ready_timeout": to_float, "watchdog_sec": to_float, "after": to_names,
    "requires": to_names, "reload_batch": lambda v: to_int(v, minimum=1),
    **COMPAT_FIELDS,
}
_STREAMS = ("stdout_stream", "stderr_stream")

# circus watcher options that later work covers: accepted, named in one warning, ignored.
# (circus/watcher.py Watcher.__init__, circus/config.py, plugins/flapping.py overrides)
WATCHER_LATER: frozenset[str] = frozenset({
    "shell_args", "use_papa", "stream_backend", "prereload_fn", "statsd", "check_delay",
})

STREAM_FIELDS: dict[str, Normaliser] = {
    "filename": to_str, "max_bytes": _nonneg_int, "backup_count": _nonneg_int,
    "time_format": to_str, "rotate_interval": lambda v: to_int(v, minimum=1), "utc": to_bool,
}
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_ROTATE_WHEN = ("S", "M", "H", "D", "MIDNIGHT", "W0", "W1", "W2", "W3", "W4", "W5", "W6")
_COLOURS = frozenset({"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"})
# circus stream classes' own keyword arguments that Ringleader has no use for (it does what
# they tune by itself): kept in the stream's options, unused, with one warning
# (WatchedFileStream refresh_time, FancyStdoutStream's, a TimedRotatingFileStream's).
# circus stream classes (bare, or under circus.stream.) -> our kind
STREAM_CLASSES: dict[str, str] = {
    "filestream": "file", "timedrotatingfilestream": "file", "watchedfilestream": "file",
    "stdoutstream": "console", "fancystdoutstream": "console",
    "queuestream": "null", "nullstream": "null",
    "file": "file", "console": "console", "null": "null",
}

def _flatten_streams(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split out ``stdout_stream.X`` / ``stderr_stream.X`` keys (INI style) and stream tables
    (TOML style) from the other options."""
    rest: dict[str, Any] = {}
    streams: dict[str, Any] = {}
    for key, value in options.items():
        head, dot, tail = key.partition(".")
        if head in _STREAMS and dot:
            streams.setdefault(head, {})[tail] = value
        elif key in _STREAMS:
            streams[key] = value  # a table (TOML, dict); merged below
        else:
            rest[key] = value
    return rest, streams


def build_stream(raw: Any, where: str, field: str, report: Report,
                 dialect: Dialect) -> StreamConfig | None:
    if isinstance(raw, StreamConfig):
        return raw
    if not isinstance(raw, dict):
        report.bad(where, field, raw, BadValue("a table of stream options"))
        return None
    out: dict[str, Any] = {}
    before = len(report.problems)
    known = [*STREAM_FIELDS, "class", "kind", "class_path", "options", "rotate_when", "color"]
    kwargs: dict[str, str] = {}  # a stream class's other keyword arguments
    for key, value in raw.items():
        name = f"{field}.{key}"
        try:
            if key in ("class", "kind"):
                cls = to_str(value).strip()
                short = cls.removeprefix("circus.stream.").lower()
                if short in STREAM_CLASSES:
                    out["kind"] = STREAM_CLASSES[short]
                elif _DOTTED.fullmatch(cls) and not cls.startswith("circus.stream."):
                    out["kind"], out["class_path"] = "custom", cls
                else:
                    raise BadValue("file, console, null, a circus stream class such as "
                                   "FileStream, or the dotted path of a class of yours",
                                   f"unknown stream class {show(cls)}")
            elif key == "class_path":
                out[key] = to_str(value)
            elif key == "options":
                if not isinstance(value, dict):
                    raise BadValue("a table of NAME = value")
                kwargs.update({str(k): str(v) for k, v in value.items()})
            elif key == "rotate_when":
                when = to_str(value).strip().upper()
                if when not in _ROTATE_WHEN:
                    raise BadValue("one of " + ", ".join(_ROTATE_WHEN))
                out["rotate_when"] = when
            elif key == "color":
                if isinstance(value, str) and value.strip().lower() in _COLOURS:
                    out["color"] = value.strip().lower()
                else:
                    out["color"] = to_bool(value)
            elif key in STREAM_FIELDS:
                out[key] = STREAM_FIELDS[key](value)
            elif is_close(key, known) or not isinstance(value, str | int | float):
                report.unknown(where, name, [f"{field}.{k}" for k in known])
            else:  # circus passes every other key to the stream class
                kwargs[key] = str(value)
        except BadValue as exc:
            report.bad(where, name, value, exc)
    if out.get("kind") == "custom":  # circus hands it every other key of the stream
        kwargs = {**{k: v if isinstance(v, str) else show(v).strip('"')
                     for k, v in raw.items()
                     if k not in ("class", "kind", "class_path", "options")}, **kwargs}
        out = {k: out[k] for k in ("kind", "class_path") if k in out}
    if kwargs:
        out["options"] = kwargs
        if out.get("kind") != "custom" and "options" not in raw:
            report.warnings.append(f"{where} {field}: stream class options not used by "
                                   f"Ringleader, kept: {', '.join(sorted(kwargs))}")
    if out.get("kind") == "custom" and not out.get("class_path"):
        report.error(where, f"{field}.class_path", "a custom stream needs the dotted path "
                     "of its class")
    if "kind" not in out and "filename" in out:
        out["kind"] = "file"  # circus: a filename alone means FileStream
    if out.get("kind") == "file":
        if not out.get("filename"):
            report.error(where, f"{field}.filename", "a file stream needs a filename")
        if dialect == "ini":
            out.setdefault("backup_count", 0)  # circus FileStream's default
    if len(report.problems) > before:
        return None
    return convert(out, StreamConfig, where, field + ".", report)


def build_watcher(name: str, options: Mapping[str, Any], where: str, report: Report,
                  dialect: Dialect, *,
                  default_flapping: FlappingConfig | None = None) -> WatcherConfig | None:
    """Normalise one watcher's options; problems go to *report*, None when there were any.
    *default_flapping* (circus ``[plugin:flapping]``) applies unless the watcher sets its own
    flapping policy or turns flapping off."""
    before = len(report.problems)
    check_name(name, where, report)
    nul = nul_in(dict(options))
    if nul is not None:
        report.error(where, nul, "contains a NUL character (expected text without NUL)")
        return None
    rest, streams = _flatten_streams(options)
    rest, tables = split_features(rest)
    out: dict[str, Any] = {"name": name}
    later: list[str] = []
    rlimits: dict[str, int] = {}
    flat_flapping: dict[str, Any] = {}
    free: dict[str, str] = {}
    for key, value in rest.items():
        try:
            if key in FLAPPING_FLAT:
                flat_flapping[key] = value
            elif key in WATCHER_FIELDS:
                out[key] = WATCHER_FIELDS[key](value)
            elif key.startswith("rlimit_"):
                limit = key[len("rlimit_"):].lower()
                if limit not in RLIMIT_NAMES:
                    report.unknown(where, key, [f"rlimit_{n}" for n in sorted(RLIMIT_NAMES)])
                    continue
                rlimits[limit] = to_rlimit(value)
            elif key == "rlimits":
                if not isinstance(value, dict):
                    raise BadValue("a table of NAME = limit")
                for limit, lv in value.items():
                    if str(limit).lower() not in RLIMIT_NAMES:
                        report.unknown(where, f"rlimits.{limit}", [
                            f"rlimits.{n}" for n in sorted(RLIMIT_NAMES)])
                        continue
                    try:
                        rlimits[str(limit).lower()] = to_rlimit(lv)
                    except BadValue as exc:
                        report.bad(where, f"rlimits.{limit}", lv, exc)
            elif key == "name" and dialect == "dict":
                continue  # already taken
            elif key in WATCHER_LATER:
                later.append(key)
            else:
                candidates = [*WATCHER_FIELDS, *_STREAMS, "rlimits",
                              *(f"rlimit_{n}" for n in RLIMIT_NAMES), *WATCHER_LATER,
                              *FEATURE_TABLES, *FLAPPING_FLAT,
                              *(f"{t}.{f}" for t, fs in TABLE_FIELDS.items() for f in fs)]
                hint = supervisord_hint(key)
                if hint is not None:
                    report.error(where, key, hint)
                elif dialect == "ini" and isinstance(value, str) and \
                        not is_close(key, candidates):
                    free[key] = value  # circus keeps it for hooks and plugins
                else:
                    report.unknown(where, key, candidates)
        except BadValue as exc:
            report.bad(where, key, value, exc)
    if rlimits:
        out["rlimits"] = rlimits
    if free:
        out["extra"] = {**out.get("extra", {}), **free}
        report.warnings.append(f"{where} options Ringleader does not know, kept for hooks "
                               f"(as circus keeps them): {', '.join(free)}")
    out.update(build_features(tables, flat_flapping, default_flapping, where, report, dialect))
    _check_watcher(out, {**rest, **tables}, where, report, dialect)
    for sname, sraw in streams.items():
        stream = build_stream(sraw, where, sname, report, dialect)
        if stream is not None:
            out[sname] = stream
    if "cmd" not in out and "cmd" not in rest:
        report.error(where, "cmd", "missing (expected the command to run)")
    if out.get("singleton") and out.get("numprocesses", 1) > 1:
        report.error(where, "numprocesses", f"a singleton watcher runs at most one process "
                     f"(expected 0 or 1, got {out['numprocesses']})")
    if later:
        report.warnings.append(f"{where} options not supported yet, ignored: "
                               + ", ".join(later))
    if len(report.problems) > before:
        return None
    return convert(out, WatcherConfig, where, "", report)


def _check_watcher(out: dict[str, Any], given: Mapping[str, Any], where: str, report: Report,
                   dialect: Dialect) -> None:
    """Rules between options of one watcher (those between watchers: ``references``)."""
    if dialect == "ini" and "sockets" in out:
        out["sockets"] = [s.lower() for s in out["sockets"]]  # circus lowercases socket names
    if dialect == "ini" and "stdin_socket" in out:
        out["stdin_socket"] = out["stdin_socket"].lower()
    if out.get("sockets"):
        if out.get("use_sockets") is False and "use_sockets" in given:
            report.error(where, "sockets", "given with use_sockets = false (expected "
                         "use_sockets = true, or no sockets)")
        out["use_sockets"] = True
    autoscale = out.get("autoscale")
    if out.get("singleton") and autoscale is not None and autoscale.max > 1:
        report.error(where, "autoscale.max", f"a singleton watcher runs at most one process "
                     f"(expected 1, got {autoscale.max})")
    if isinstance(out.get("cmd"), str) and not out.get("shell"):
        try:
            to_command(out["cmd"])
        except BadValue as exc:
            report.bad(where, "cmd", out["cmd"], exc)
    check_compat(out, given, where, report)
    if out.get("readiness") == "health" and "health" not in out and "health" not in given:
        report.error(where, "readiness", 'is "health" but the watcher has no health check '
                     "(expected a [health] table, or readiness = warmup or notify)")
