"""``[groups.NAME]`` (supervisord ``[group:x]``): watchers started, stopped and selected
together. Each names watchers of the config; a watcher is in one group at most."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ringleader.config.model import GroupConfig
from ringleader.config.report import Report, convert
from ringleader.config.values import BadValue, plain_name_problem, to_int, to_names


def build_group(name: str, options: Mapping[str, Any], where: str,
                report: Report) -> GroupConfig | None:
    before = len(report.problems)
    problem = plain_name_problem(name)
    if problem is not None:
        report.error(where, "name", f"expected {problem}")
    out: dict[str, Any] = {"name": name}
    for key, value in options.items():
        try:
            if key == "watchers":
                out[key] = to_names(value)
            elif key == "priority":
                out[key] = to_int(value, too_big=f"an integer between {-(1 << 31)} and "
                                  f"{(1 << 31) - 1}")
                if not -(1 << 31) <= out[key] < 1 << 31:
                    raise BadValue(f"an integer between {-(1 << 31)} and {(1 << 31) - 1}")
            else:
                report.unknown(where, key, ["watchers", "priority"])
        except BadValue as exc:
            report.bad(where, key, value, exc)
    if not out.get("watchers") and "watchers" not in options:
        report.error(where, "watchers", "missing (expected the names of its watchers)")
    if len(report.problems) > before:
        return None
    return convert(out, GroupConfig, where, "", report)


def check_groups(groups: Iterable[tuple[GroupConfig, str]], watchers: Iterable[str],
                 report: Report) -> None:
    """Every watcher named exists and is in one group at most."""
    known = set(watchers)
    member_of: dict[str, str] = {}
    for group, where in groups:
        for name in group.watchers:
            if name not in known:
                report.error(where, "watchers", f'unknown watcher "{name}"')
            elif name in member_of:
                report.error(where, "watchers", f'"{name}" is already in group '
                             f'"{member_of[name]}" (a watcher is in one group at most)')
            else:
                member_of[name] = group.name
