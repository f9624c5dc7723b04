"""Checks between sections, once every watcher and socket is built: ``after``/``requires``
name known watchers and form no cycle, ``sockets`` name known sockets."""

from __future__ import annotations

from collections.abc import Iterable

from ringleader.config.model import WatcherConfig
from ringleader.config.plan import find_cycle
from ringleader.config.report import Report
from ringleader.config.values import show


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f"unknown {what} {show(name)}{hint}"


def check_references(watchers: list[tuple[WatcherConfig, str]], watcher_names: Iterable[str],
                     socket_names: Iterable[str], where: str, report: Report) -> None:
    """*watcher_names* / *socket_names*: every name defined (also those whose section had
    problems, so that a mistake is reported once). *where* prefixes a cycle's message."""
    known_watchers = set(watcher_names)
    known_sockets = set(socket_names)
    for w, wwhere in watchers:
        for field in ("after", "requires"):
            for dep in getattr(w, field):
                if dep not in known_watchers:
                    report.error(wwhere, field, _unknown("watcher", dep, known_watchers))
        for sock in [*w.sockets, *([w.stdin_socket] if w.stdin_socket else [])]:
            if sock not in known_sockets:
                report.error(wwhere, "sockets", _unknown("socket", sock, known_sockets)
                             if known_sockets else f"unknown socket {show(sock)} (no socket "
                             "is defined)")
    cycle = find_cycle([w for w, _ in watchers])
    if cycle is not None:
        report.error(where, "", "dependency cycle: " + " -> ".join(cycle))
