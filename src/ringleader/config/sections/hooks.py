"""Watcher hooks: ``hooks.NAME`` is a Python callable by dotted path or a shell command.

``before_start = "pkg.mod.func"`` is kind python; a plain string with whitespace or a '/' is a
shell command; a table (``{ target = ..., kind = ..., timeout = ..., abort_on_failure = ... }``)
says it all. circus INI's ``hooks.NAME = mod.func, true`` (the flag ignores the hook's failures)
and ``hooks.NAME.FIELD = value`` keys are understood too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, get_args

from ringleader.config.features import HookConfig, HookName
from ringleader.config.report import Dialect, Report, convert
from ringleader.config.values import BadValue, show, to_bool, to_float, to_str

HOOK_NAMES: tuple[str, ...] = get_args(HookName)
# circus Watcher.ignore_hook_failure: failures of these hooks never cancel anything there, so
# their abort_on_failure defaults to false here too (in every dialect).
HOOKS_IGNORED_BY_DEFAULT = frozenset({"before_stop", "after_stop", "before_signal",
                                      "after_signal", "extended_stats"})
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*)$")


def _kind(v: Any) -> str:
    text = to_str(v).strip().lower()
    if text not in ("python", "shell"):
        raise BadValue("python or shell")
    return text


def _positive(v: Any) -> float:
    num = to_float(v)
    if num <= 0:
        raise BadValue("a number > 0")
    return num


HOOK_FIELDS: dict[str, Callable[[Any], Any]] = {
    "target": to_str, "kind": _kind, "timeout": _positive, "abort_on_failure": to_bool,
}


def hook_kind(target: str) -> str:
    """The kind of a hook given as a plain string."""
    return "shell" if any(c.isspace() for c in target) or "/" in target else "python"


def _ini_hook_spec(spec: str) -> tuple[str, bool | None]:
    """circus: ``hooks.NAME = mod.func, true`` -- the flag after the comma ignores failures."""
    head, comma, flag = spec.partition(",")
    if comma and hook_kind(head.strip()) == "python":
        try:
            return head.strip(), to_bool(flag)
        except BadValue:
            pass
    return spec.strip(), None


def _build_hook(name: str, spec: Any, fields: dict[str, Any], where: str, report: Report,
                dialect: Dialect) -> HookConfig | None:
    field = f"hooks.{name}"
    before = len(report.problems)
    out: dict[str, Any] = {}
    ignore: bool | None = None
    if spec is not None:
        if not isinstance(spec, str) or not spec.strip():
            report.bad(where, field, spec, BadValue('a dotted path "pkg.module.func", a shell '
                                                    "command, or a table with target"))
            return None
        out["target"] = spec.strip()
        if dialect == "ini":
            out["target"], ignore = _ini_hook_spec(spec)
    for key, value in fields.items():
        if key not in HOOK_FIELDS:
            report.unknown(where, f"{field}.{key}", [f"{field}.{k}" for k in HOOK_FIELDS])
            continue
        try:
            out[key] = HOOK_FIELDS[key](value)
        except BadValue as exc:
            report.bad(where, f"{field}.{key}", value, exc)
    if len(report.problems) > before:
        return None
    given = out.get("target")
    if not isinstance(given, str) or not given.strip():
        report.error(where, f"{field}.target", 'missing (expected a dotted path '
                     '"pkg.module.func" or a shell command)')
        return None
    out["target"] = target = given.strip()
    kind = out.setdefault("kind", hook_kind(target))
    if kind == "python" and not _DOTTED.match(target):
        report.error(where, f"{field}.target", f'expected a dotted path "pkg.module.func" '
                     f'(or kind = "shell" for a command), got {show(target)}')
        return None
    if "abort_on_failure" not in out:  # circus: ignored if flagged, or one of its defaults
        out["abort_on_failure"] = not ignore and name not in HOOKS_IGNORED_BY_DEFAULT
    return _convert_model_hook(out, field, where, report)


def _convert_model_hook(data: dict[str, Any], field: str, where: str,
                        report: Report) -> HookConfig | None:
    return convert(data, HookConfig, where, f"{field}.", report)


def build_hooks(raw: Any, where: str, report: Report, dialect: Dialect) -> Any:
    """``{NAME: "pkg.mod.func" | "shell command" | {target, kind, timeout,
    abort_on_failure}}``; INI gives ``hooks.NAME`` and ``hooks.NAME.FIELD`` keys."""
    if not isinstance(raw, dict) or "" in raw:
        report.bad(where, "hooks", raw.get("") if isinstance(raw, dict) else raw,
                   BadValue("a table of NAME = hook"))
        return False
    specs: dict[str, Any] = {}
    fields: dict[str, dict[str, Any]] = {}
    ready: dict[str, HookConfig] = {}
    for key, value in raw.items():
        name, dot, field = str(key).partition(".")
        if isinstance(value, HookConfig) and not dot:
            ready[name] = value
        elif dot:
            fields.setdefault(name, {})[field] = value
        elif isinstance(value, dict):
            fields.setdefault(name, {}).update(value)
        else:
            specs[name] = value
    before = len(report.problems)
    hooks: dict[str, HookConfig] = {}
    for name in dict.fromkeys([*ready, *specs, *fields]):
        if name not in HOOK_NAMES:
            report.unknown(where, f"hooks.{name}", [f"hooks.{n}" for n in HOOK_NAMES])
            continue
        if name in ready:
            hooks[name] = ready[name]
            continue
        hook = _build_hook(name, specs.get(name), fields.get(name, {}), where, report, dialect)
        if hook is not None:
            hooks[name] = hook
    return hooks if len(report.problems) == before else False
