"""What supervisorctl and circusctl users type after start, stop, restart, signal, status:
``web:*`` (every watcher of group web), ``web:web_00`` (one process of group web),
``'work*'`` (watchers whose names match a glob; circusctl too), or a plain watcher name.

Resolved on the console's side against the controller's status (pure: the status dict in,
targets out), so that the API keeps its one watcher per call. Stdlib only.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_GLOB = frozenset("*?[")


# watcher; wid (None: the whole watcher); label: how it is shown (group:process). A plain
# namedtuple: typing.NamedTuple would load typing, milliseconds of every console start.
Target = namedtuple("Target", "watcher wid label", defaults=(None, ""))


def is_selector(text: str) -> bool:
    """A plain watcher name goes to the API as it is; anything else is resolved here."""
    return ":" in text or any(c in _GLOB for c in text)


def fnmatchcase(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase as match  # only when a selector is used (start-up time)

    return match(name, pattern)


def _group_members(watchers: Sequence[Mapping[str, Any]], group: str
                   ) -> list[Mapping[str, Any]]:
    """A group's watchers; a watcher outside any group is a group of its own name
    (supervisord)."""
    members = [w for w in watchers if w.get("group") == group]
    return members or [w for w in watchers if w["name"] == group and not w.get("group")]


def _process_name(w: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    return str(p.get("name") or f"{w['name']}.{p['wid']}")


def resolve(status: Mapping[str, Any], selector: str) -> list[Target]:
    """The targets `selector` names, in the controller's order; ValueError saying why when
    it names nothing."""
    watchers: Sequence[Mapping[str, Any]] = status.get("watchers", [])
    group, colon, process = selector.partition(":")
    if colon:
        members = [w for g in _matching_groups(watchers, group)
                   for w in _group_members(watchers, g)]
        if not members:
            raise ValueError(f"no group {group!r}")
        if process in ("*", ""):
            return [Target(w["name"], None, _label(w)) for w in members]
        targets = [Target(w["name"], int(p["wid"]), f"{w['group']}:{_process_name(w, p)}"
                          if w.get("group") else _process_name(w, p))
                   for w in members for p in w.get("processes", [])
                   if fnmatchcase(_process_name(w, p), process)]
        if not targets:
            raise ValueError(f"no process {process!r} in group {group!r}")
        return targets
    found = [Target(w["name"], None, _label(w)) for w in watchers
             if fnmatchcase(w["name"], selector)]
    if not found:  # supervisord's process names (web_00) match too
        found = [Target(w["name"], int(p["wid"]), _process_name(w, p)) for w in watchers
                 for p in w.get("processes", []) if fnmatchcase(_process_name(w, p), selector)]
    if not found:
        raise ValueError(f"no watcher or process matches {selector!r}")
    return found


def _matching_groups(watchers: Sequence[Mapping[str, Any]], pattern: str) -> list[str]:
    names = dict.fromkeys(str(w.get("group") or w["name"]) for w in watchers)
    return [n for n in names if fnmatchcase(n, pattern)]


def _label(w: Mapping[str, Any]) -> str:
    return f"{w['group']}:{w['name']}" if w.get("group") else str(w["name"])
