"""Normalisation of a watcher's feature sub-tables: ``flapping``, ``backoff``, ``autoscale``,
``cgroup``, ``watchdog``, ``health`` and ``hooks`` (the latter in ``sections.hooks``).

Each front end hands them over in its own shape -- TOML and dicts as nested tables
(``[watchers.web.flapping]``), circus INI as dotted keys (``flapping.attempts = 3``) -- and
``split_features`` brings both to one table per feature. circus's own flat flapping names
(``check_flapping``, ``flapping_attempts``, ``flapping_window``, ``retry_in``, ``max_retry``) and
the ``[plugin:flapping]`` defaults are merged here too, so every dialect gives the same models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ringleader.config.features import (
    AutoscaleConfig,
    BackoffConfig,
    CgroupConfig,
    FlappingConfig,
    HealthCheckConfig,
    WatchdogConfig,
)
from ringleader.config.report import Dialect, Report, convert
from ringleader.config.sections.hooks import build_hooks
from ringleader.config.values import (
    BadValue,
    to_bool,
    to_float,
    to_int,
    to_percent,
    to_period,
    to_size,
    to_str,
)

Normaliser = Callable[[Any], Any]

FEATURE_TABLES = ("flapping", "backoff", "autoscale", "cgroup", "watchdog", "health", "hooks")
# circus < 0.7 watcher options (flapping was built into the watcher then), still accepted.
FLAPPING_FLAT: dict[str, str] = {
    "flapping_attempts": "attempts", "flapping_window": "window", "retry_in": "retry_in",
    "max_retry": "max_retry", "check_flapping": "active",
}
_HEALTH_KINDS = ("http", "tcp", "command")


def _nonneg_int(v: Any) -> int:
    return to_int(v, minimum=0)


def _pos_int(v: Any) -> int:
    return to_int(v, minimum=1)


def _positive(v: Any) -> float:
    num = to_float(v)
    if num <= 0:
        raise BadValue("a number > 0")
    return num


def _retry_count(v: Any) -> int:
    """-1 (circus: retry for ever) is kept for ``_flapping_retries`` to map."""
    return to_int(v, minimum=-1)


def _max_retries(v: Any) -> int:
    """-1, as in circus, is 0 here: never give up."""
    return max(to_int(v, minimum=-1), 0)


def _cpu_weight(v: Any) -> int:
    return to_int(v, minimum=1, maximum=10_000)


def _port(v: Any) -> int:
    return to_int(v, minimum=1, maximum=65535, too_big="a port number between 1 and 65535")


def _health_kind(v: Any) -> str:
    kind = to_str(v).strip().lower()
    if kind not in _HEALTH_KINDS:
        raise BadValue("http, tcp or command")
    return kind


TABLE_FIELDS: dict[str, dict[str, Normaliser]] = {
    "flapping": {"attempts": _pos_int, "window": _positive, "retry_in": to_float,
                 "max_retry": _retry_count, "active": to_bool},
    "backoff": {"initial": to_float, "factor": lambda v: to_float(v, minimum=1.0),
                "max": to_float, "min_uptime": to_float, "free_retries": _nonneg_int,
                "max_retries": _max_retries},
    "autoscale": {"min": _nonneg_int, "max": _pos_int, "step": _pos_int, "cooldown": to_float,
                  "grow_above": to_percent, "grow_after": to_float,
                  "shrink_below": to_percent, "shrink_after": to_float,
                  "interval": to_period},
    "cgroup": {"memory_limit": lambda v: to_size(v, minimum=4096), "cpu_quota": _positive,
               "cpu_weight": _cpu_weight, "pids_limit": _pos_int, "parent": to_str},
    "watchdog": {"max_rss": lambda v: to_size(v, minimum=1), "max_cpu": to_percent,
                 "checks": _pos_int, "interval": to_period},
    "health": {"kind": _health_kind, "url": to_str, "host": to_str, "port": _port,
               "command": to_str, "interval": to_period, "timeout": _positive,
               "failures": _pos_int, "start_period": to_float},
}
_MODELS: dict[str, type[Any]] = {
    "flapping": FlappingConfig, "backoff": BackoffConfig, "autoscale": AutoscaleConfig,
    "cgroup": CgroupConfig, "watchdog": WatchdogConfig, "health": HealthCheckConfig,
}


def split_features(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Take the feature tables (``flapping = {...}``) and dotted keys (``flapping.attempts``)
    out of *options*. A feature maps to a dict, or to whatever non-table value was given
    (``flapping = false``; a wrong type is reported by ``build_features``)."""
    rest: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    for key, value in options.items():
        head, dot, tail = key.partition(".")
        if head in FEATURE_TABLES and dot and tail:
            table = tables.get(head)
            if not isinstance(table, dict):
                table = tables[head] = {} if table is None else {"": table}
            table[tail] = value
        elif key in FEATURE_TABLES:
            if isinstance(value, dict) and isinstance(tables.get(key), dict):
                tables[key] = {**value, **tables[key]}
            elif isinstance(tables.get(key), dict):
                tables[key][""] = value
            else:
                tables[key] = value
        else:
            rest[key] = value
    return rest, tables


def _table(name: str, raw: Any, where: str, report: Report) -> dict[str, Any] | None:
    """One feature table's fields, normalised; None if it was not a table or had problems."""
    if not isinstance(raw, dict):
        report.bad(where, name, raw, BadValue(f"a table of {name} options"))
        return None
    fields = TABLE_FIELDS[name]
    out: dict[str, Any] = {}
    before = len(report.problems)
    for key, value in raw.items():
        field = f"{name}.{key}"
        if key == "":
            report.bad(where, name, value, BadValue(f"a table of {name} options"))
        elif key not in fields:
            report.unknown(where, field, [f"{name}.{k}" for k in fields])
        else:
            try:
                out[key] = fields[key](value)
            except BadValue as exc:
                report.bad(where, field, value, exc)
    return out if len(report.problems) == before else None


def _flapping_retries(fields: dict[str, Any], where: str, field: str, report: Report,
                      dialect: Dialect) -> None:
    """circus's -1 (retry for ever) is 0 here; circus's 0 (stop at the first flapping) cannot
    be said here, where 0 means for ever: an INI file gets 1 round, with a warning."""
    value = fields.get("max_retry")
    if value == -1:
        fields["max_retry"] = 0
    elif value == 0 and dialect == "ini":
        report.warnings.append(f"{where} {field}: circus's 0 (stop at the first "
                               "flapping) is not supported; 1 retry round is used")
        fields["max_retry"] = 1


def build_flapping(raw: Any, flat: dict[str, Any], default: FlappingConfig | None,
                   where: str, report: Report, dialect: Dialect) -> tuple[Any, int | None]:
    """-> (FlappingConfig, None for no flapping policy, or False when there were problems;
    the circus watcher option ``max_retry`` when the watcher has no flapping policy: it then
    belongs to the backoff policy, as circus >= 0.7 gives up after that many failed starts)."""
    if isinstance(raw, FlappingConfig):
        return raw, None
    fields: dict[str, Any] = {}
    before = len(report.problems)
    if isinstance(raw, dict):
        fields.update(_table("flapping", raw, where, report) or {})
    elif raw is not None:
        try:
            if not isinstance(raw, bool | str):
                raise BadValue("")
            fields["active"] = to_bool(raw)
        except BadValue:
            report.bad(where, "flapping", raw, BadValue("a table of flapping options, or "
                                                        "true/false"))
    flat_max_retry: int | None = None
    for key, value in flat.items():
        target = FLAPPING_FLAT[key]
        try:
            converted = TABLE_FIELDS["flapping"][target](value)
        except BadValue as exc:
            report.bad(where, key, value, exc)
            continue
        if target == "max_retry":
            flat_max_retry = converted
        else:
            fields.setdefault(target, converted)
    if len(report.problems) > before:
        return False, None
    active = fields.pop("active", None)
    if active is None and isinstance(raw, dict):
        active = True  # an empty [flapping] table: circus's defaults
    if active is False:
        if fields:
            report.warnings.append(f"{where} flapping options ignored: flapping is turned "
                                   "off (check_flapping/flapping.active = false)")
        return None, None if flat_max_retry is None else max(flat_max_retry, 0)
    if not (fields or active or default is not None):
        return None, None if flat_max_retry is None else max(flat_max_retry, 0)
    if flat_max_retry is not None:
        fields.setdefault("max_retry", flat_max_retry)
    _flapping_retries(fields, where, "flapping.max_retry", report, dialect)
    base = {} if default is None else {
        "attempts": default.attempts, "window": default.window,
        "retry_in": default.retry_in, "max_retry": default.max_retry}
    return _convert_model({**base, **fields}, "flapping", where, report), None


def _convert_model(data: dict[str, Any], name: str, where: str, report: Report) -> Any:
    result = convert(data, _MODELS[name], where, f"{name}.", report)
    return False if result is None else result


def build_health(raw: Any, where: str, report: Report) -> Any:
    if isinstance(raw, HealthCheckConfig):
        return raw
    fields = _table("health", raw, where, report)
    if fields is None:
        return False
    kind = fields.get("kind")
    if kind is None:
        given = [k for k, key in (("http", "url"), ("tcp", "port"), ("command", "command"))
                 if key in fields]
        if len(given) != 1:
            report.error(where, "health.kind", "missing (expected http, tcp or command)")
            return False
        kind = fields["kind"] = given[0]
    need = {"http": "url", "tcp": "port", "command": "command"}[kind]
    if need not in fields:
        what = {"url": "the URL to GET", "port": "the port to connect to",
                "command": "the command to run"}[need]
        report.error(where, f"health.{need}", f"missing (a health check of kind {kind} needs "
                     f"{what})")
        return False
    return _convert_model(fields, "health", where, report)


def build_autoscale(raw: Any, where: str, report: Report) -> Any:
    if isinstance(raw, AutoscaleConfig):
        return raw
    fields = _table("autoscale", raw, where, report)
    if fields is None:
        return False
    if "max" not in fields:
        report.error(where, "autoscale.max", "missing (expected the most processes, an "
                     "integer >= 1)")
        return False
    low = fields.get("min", 1)
    if low > fields["max"]:
        report.error(where, "autoscale.min", f"greater than autoscale.max ({low} > "
                     f"{fields['max']}; expected min <= max)")
        return False
    return _convert_model(fields, "autoscale", where, report)


def build_features(tables: dict[str, Any], flat: dict[str, Any],
                   default_flapping: FlappingConfig | None, where: str, report: Report,
                   dialect: Dialect) -> dict[str, Any]:
    """The WatcherConfig fields of the features; a feature with problems is left out (the
    problems are in *report*)."""
    out: dict[str, Any] = {}
    flapping, flat_max_retry = build_flapping(tables.get("flapping"), flat, default_flapping,
                                              where, report, dialect)
    if flapping is not False:
        out["flapping"] = flapping
    builders: dict[str, Callable[[Any], Any]] = {
        "autoscale": lambda raw: build_autoscale(raw, where, report),
        "health": lambda raw: build_health(raw, where, report),
        "hooks": lambda raw: build_hooks(raw, where, report, dialect),
    }
    for name in FEATURE_TABLES[1:]:  # in this order, so that problems come in it too
        raw = tables.get(name)
        if name == "backoff" and flat_max_retry is not None:
            raw = {"max_retries": flat_max_retry, **(raw if isinstance(raw, dict) else {})}
        if raw is None:
            continue
        if name in builders:
            model = builders[name](raw)
        elif isinstance(raw, _MODELS[name]):
            model = raw
        else:
            fields = _table(name, raw, where, report)
            model = False if fields is None else _convert_model(fields, name, where, report)
        if model is not False:
            out[name] = model
    return out


def flapping_plugin(options: Mapping[str, Any], where: str,
                    report: Report) -> FlappingConfig | None:
    """circus ``[plugin:NAME]`` with ``use = circus.plugins.flapping.Flapping``: the flapping
    policy of every watcher that sets none; ``active = false`` turns it off."""
    fields: dict[str, Any] = {}
    known = {**TABLE_FIELDS["flapping"]}
    before = len(report.problems)
    for key, value in options.items():
        if key in ("use", "priority", "name"):
            continue
        if key not in known:
            report.unknown(where, key, ["use", "priority", *known])
            continue
        try:
            fields[key] = known[key](value)
        except BadValue as exc:
            report.bad(where, key, value, exc)
    if len(report.problems) > before:
        return None
    if fields.pop("active", True) is False:
        return None
    _flapping_retries(fields, where, "max_retry", report, "ini")
    result = _convert_model(fields, "flapping", where, report)
    return result if isinstance(result, FlappingConfig) else None
