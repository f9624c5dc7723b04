"""`ringleader top`: a live table of the watchers' processes (CPU, memory, fds, age...).

Fed by the ``stats_stream`` Server-Sent Events (plus a ``status`` call per update, for the
states and for slots that have no process now). The stream is read in a daemon thread, which
wakes the main thread through a pipe; the main thread waits on that pipe and on the terminal
(cbreak mode: single keys act) with one blocking ``select``: no polling. Keys: ``q`` quits,
``c``/``m``/``n`` sort by CPU, memory or name, ``w`` shows one watcher after another, then
all again. rich is imported here only, when the command runs; it is an extra
(``ringleader[top]``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import select
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ringleader.cli import format as fmt

if TYPE_CHECKING:
    from rich.table import Table

    from ringleader.api.client import Client

__all__ = ["build_table", "cmd_top"]

_STYLES = {"32": "green", "33": "yellow", "31": "red", "2": "dim"}
_QUIT_KEYS = frozenset(b"qQ")
_SORT_KEYS = {ord("c"): "cpu", ord("C"): "cpu", ord("m"): "mem", ord("M"): "mem",
              ord("n"): "name", ord("N"): "name"}
_NEXT_WATCHER = frozenset(b"wW")
SORT_FIELDS = {"cpu": "cpu_percent", "mem": "rss"}
MISSING_RICH = ("ringleader top needs the rich package: pip install 'ringleader[top]'")
_WIDE_ONLY = frozenset({"USS", "KIDS", "EXITS"})


def build_table(stats: Mapping[str, Any], status: Mapping[str, Any] | None = None, *,
                narrow: bool = False, sort: str = "name", only: str | None = None) -> Table:
    """The view of one StatsResponse (and, if given, the StatusResponse of the same moment:
    states, and the slots with no live process). ``narrow`` (a terminal under 100 columns)
    leaves out USS, KIDS and EXITS rather than squeezing every column to nothing. ``sort``:
    name (as the controller lists them, processes by slot), cpu or mem (busiest watcher
    first, and its busiest process first); ``only``: that watcher alone."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    w_states, p_states = _states(status)
    stats = arrange(stats, sort, only)
    n_procs = sum(len(w["processes"]) for w in stats["watchers"])
    cpu = sum(w["cpu_percent"] for w in stats["watchers"])
    rss = sum(w["rss"] for w in stats["watchers"])
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False,
        title=f"ringleader top - {fmt.clock(stats['at'])} - {len(stats['watchers'])} "
              f"watcher(s), {n_procs} process(es), CPU {cpu:.1f}%, RSS {fmt.size(rss)}",
        title_justify="left", caption_justify="left",
        caption=f"sorted by {sort}{f', only {only}' if only else ''} - c/m/n: sort by "
                "cpu/mem/name, w: next watcher, q: quit")
    headers = ("PROCESS", "PID", "STATE", "CPU%", "RSS", "USS", "FDS", "KIDS", "AGE",
               "RESTARTS", "EXITS")
    keep = [h not in _WIDE_ONLY for h in headers] if narrow else [True] * len(headers)
    for header, kept in zip(headers, keep, strict=True):
        if kept:
            table.add_column(header, no_wrap=True, justify="left"
                             if header in ("PROCESS", "STATE", "EXITS") else "right")

    def add_row(*cells: str | Text) -> None:
        table.add_row(*(c for c, kept in zip(cells, keep, strict=True) if kept))

    def state_text(state: str | None) -> Text:
        if state is None:
            return Text("-")
        code = fmt.STATE_COLORS.get(state)
        return Text(state, style=_STYLES.get(code or "", ""))

    for w in stats["watchers"]:
        name = w["name"]
        add_row(Text(name, style="bold"), "", state_text(w_states.get(name)),
                f"{w['cpu_percent']:.1f}", fmt.size(w["rss"]), *[""] * 6)
        seen = set()
        for p in w["processes"]:
            seen.add(p["wid"])
            add_row(
                f"  {name}.{p['wid']}", str(p["pid"]),
                state_text(p_states.get((name, p["wid"]), "running")),
                f"{p['cpu_percent']:.1f}", fmt.size(p["rss"]), fmt.size(p["uss"]),
                "-" if p["num_fds"] is None else str(p["num_fds"]), str(p["num_children"]),
                fmt.duration(p["age"]), str(p["restarts"]), exits(p["exit_history"]))
        # Slots without a process (backoff, flapping, exited...): that is news too.
        for (wname, wid), (state, restarts) in sorted(_idle_slots(status).items()):
            if wname == name and wid not in seen:
                add_row(f"  {name}.{wid}", "-", state_text(state), *["-"] * 6,
                        str(restarts), "")
        table.add_section()
    return table


def arrange(stats: Mapping[str, Any], sort: str, only: str | None) -> dict[str, Any]:
    """The StatsResponse with its watchers (and their processes) in `sort` order, only
    watcher `only` if given."""
    watchers = [w for w in stats["watchers"] if only is None or w["name"] == only]
    field = SORT_FIELDS.get(sort)
    if field is not None:
        def busiest(item: Mapping[str, Any]) -> float:
            return -float(item.get(field) or 0)

        watchers = [{**w, "processes": sorted(w["processes"], key=busiest)}
                    for w in sorted(watchers, key=busiest)]
    return {**stats, "watchers": watchers}


def exits(history: list[int], last: int = 3) -> str:
    """The last exit codes, newest last: ``1 KILL`` (negative: killed by that signal)."""
    out = []
    for code in history[-last:]:
        if code < 0:
            try:
                out.append(signal.Signals(-code).name.removeprefix("SIG"))
            except ValueError:
                out.append(f"sig{-code}")
        else:
            out.append(str(code))
    return " ".join(out)


def _states(status: Mapping[str, Any] | None) -> tuple[dict[str, str],
                                                       dict[tuple[str, int], str]]:
    if status is None:
        return {}, {}
    watchers = {w["name"]: w["state"] for w in status["watchers"]}
    procs = {(w["name"], p["wid"]): p["state"] for w in status["watchers"]
             for p in w["processes"]}
    return watchers, procs


def _idle_slots(status: Mapping[str, Any] | None) -> dict[tuple[str, int], tuple[str, int]]:
    if status is None:
        return {}
    return {(w["name"], p["wid"]): (p["state"], p["restarts"]) for w in status["watchers"]
            for p in w["processes"] if p["pid"] is None}


# -- the live part ----------------------------------------------------------------------


def cmd_top(args: argparse.Namespace, client: Client) -> int:
    """Show the live view until ``q`` or Ctrl-C; return the exit code."""
    try:
        import rich  # noqa: F401 - an extra: say how to get it rather than fail later
    except ImportError:
        from ringleader.cli.common import UsageError

        raise UsageError(MISSING_RICH) from None
    query: dict[str, str | list[str]] = {"interval": str(getattr(args, "interval", 1.0))}
    if getattr(args, "name", None):
        query["watcher"] = args.name
    updates: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
    wake_r, wake_w = os.pipe()
    reader = threading.Thread(target=_read_stream, args=(client, query, updates, wake_w),
                              name="top-stream", daemon=True)
    try:
        reader.start()
        with _Keys() as keys:
            return _show(args, updates, wake_r, keys)
    except KeyboardInterrupt:
        return 0
    finally:
        # The reader may still be blocked on the socket: it is a daemon, and any write it
        # makes after this fails quietly.
        os.close(wake_r)


def _read_stream(client: Client, query: dict[str, str | list[str]],
                 updates: queue.SimpleQueue[tuple[str, Any, Any]], wake: int) -> None:
    try:
        for event, data in client.stream("stats_stream", query=query):
            if event != "stats":
                continue
            try:
                status = client.call("status")
            except Exception:  # the states are a bonus: show the stats anyway
                status = None
            updates.put(("stats", data, status))
            _wake(wake)
        updates.put(("end", None, None))
    except BaseException as exc:  # handed to the main thread, which raises it
        updates.put(("error", exc, None))
    _wake(wake)
    with contextlib.suppress(OSError):
        os.close(wake)


def _wake(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"x")


class View:
    """What the live view shows: the sort order and the watcher filter, changed by keys."""

    def __init__(self, sort: str) -> None:
        self.sort = sort
        self.only: str | None = None
        self.names: list[str] = []  # the watchers of the last update, for `w`

    def press(self, keys: bytes) -> bool:
        """Apply the keys; True if the view changed."""
        changed = False
        for key in keys:
            if key in _SORT_KEYS:
                changed |= self.sort != _SORT_KEYS[key]
                self.sort = _SORT_KEYS[key]
            elif key in _NEXT_WATCHER and self.names:
                at = self.names.index(self.only) + 1 if self.only in self.names else 0
                self.only = self.names[at] if at < len(self.names) else None
                changed = True
        return changed


def _show(args: argparse.Namespace, updates: queue.SimpleQueue[tuple[str, Any, Any]],
          wake: int, keys: _Keys) -> int:
    from rich.console import Console
    from rich.live import Live

    as_json = getattr(args, "json", False)
    color = getattr(args, "color", None)
    console = Console(no_color=True) if color == "never" else \
        Console(no_color=False, color_system="standard") if color == "always" else Console()
    view = View(getattr(args, "sort", None) or "name")
    live = Live(console=console, auto_refresh=False, screen=True, transient=True,
                redirect_stdout=False, redirect_stderr=False) \
        if console.is_terminal and not as_json else None
    last: tuple[Any, Any] | None = None

    def table() -> Table:
        assert last is not None
        return build_table(last[0], last[1], narrow=console.width < 100, sort=view.sort,
                           only=view.only)

    with live if live is not None else contextlib.nullcontext():
        for kind, data, status in _updates(updates, wake, keys):
            if kind == "keys":
                if view.press(data) and live is not None and last is not None:
                    live.update(table(), refresh=True)
                continue
            if kind == "end":
                print("ringleader top: the controller ended the stream", file=sys.stderr)
                return 1
            if kind == "error":
                raise data
            last = (data, status)
            view.names = [w["name"] for w in data["watchers"]]
            if as_json:
                print(json.dumps(data), flush=True)
            elif live is not None:
                live.update(table(), refresh=True)
            else:  # not a terminal: one table per update
                console.print(table())
    return 0


def _updates(updates: queue.SimpleQueue[tuple[str, Any, Any]], wake: int,
             keys: _Keys) -> Iterator[tuple[str, Any, Any]]:
    """The reader's updates as they come, and ("keys", bytes, None) for keys pressed,
    until a quit key."""
    fds = [wake, *([keys.fd] if keys.fd is not None else [])]
    while fds:
        ready, _, _ = select.select(fds, [], [])
        if keys.fd is not None and keys.fd in ready:
            pressed = keys.read()
            if pressed is None or any(b in _QUIT_KEYS for b in pressed):
                return
            yield "keys", pressed, None
        if wake in ready:
            if not os.read(wake, 4096):
                fds.remove(wake)  # the reader ended; its last update is queued
            while True:
                try:
                    yield updates.get_nowait()
                except queue.Empty:
                    break


class _Keys:
    """The terminal in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still raises
    KeyboardInterrupt) while in the ``with`` block, and restored after, whatever happens."""

    def __init__(self) -> None:
        self.fd: int | None = None  # None: no terminal to read keys from
        self._tty = -1
        self._saved: list[Any] | None = None

    def __enter__(self) -> _Keys:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            return self
        if not os.isatty(fd):
            return self
        import termios
        import tty

        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd, termios.TCSANOW)
        self.fd = self._tty = fd
        return self

    def read(self) -> bytes | None:
        """The keys pressed; None when the terminal went away."""
        assert self.fd is not None
        try:
            data = os.read(self.fd, 64)
        except OSError:
            return b""
        if not data:
            self.fd = None
            return None
        return data

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._tty, termios.TCSADRAIN, self._saved)
            self._saved = None
        self.fd = None

