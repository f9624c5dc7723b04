"""circusctl's verbs (``listsockets``, ``listen``, ``dstats``, ``globaloptions``,
``numwatchers``, ``kill``, ``listpids``), and the selectors supervisorctl and circusctl
users type (``restart web:*``, ``stop 'work*'``, ``start web:web_00``): what a command does
for each target a selector names. Console side only: stdlib, the client, the formatters."""

from __future__ import annotations

import sys

from ringleader.api.client import ApiError, Client
from ringleader.cli import format as fmt
from ringleader.cli.common import EXIT_OK, UsageError
from ringleader.cli.selectors import Target, is_selector, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def targets(client: Client, command: str, selector: str) -> list[Target]:
    """The watchers (and processes) `selector` names; UsageError when none."""
    try:
        return resolve(client.call("status"), selector)
    except ValueError as exc:
        raise ApiError(404, "not_found", f"ringleader {command}: {exc}") from None


def on_targets(args: argparse.Namespace, client: Client) -> int:
    """start/stop/restart/reload of a selector: each target in turn, one line each."""
    op = args.command
    lines: list[str] = []
    results: list[Any] = []
    for target in targets(client, op, args.name):
        if target.wid is not None and op == "reload":
            raise UsageError(f"ringleader reload: {args.name} names processes; reload "
                             "replaces a whole watcher's (use restart)")
        query: dict[str, str | list[str]] | None = (
            None if target.wid is None else {"wid": str(target.wid)})
        info = client.call(op, name=target.watcher, query=query)
        results.append(info)
        state = info["state"]
        if target.wid is not None:
            state = next((p["state"] for p in info.get("processes", [])
                          if p["wid"] == target.wid), state)
        lines.append(f"{target.label or target.watcher}: {state}")
    return _emit(args, results, "\n".join(lines))


def signal_targets(args: argparse.Namespace, client: Client, body: dict[str, Any]) -> int:
    total = 0
    for target in targets(client, "signal", args.name):
        one = dict(body)
        if target.wid is not None:
            one["wid"] = target.wid
        total += int(client.call("signal", name=target.watcher, body=one)["signalled"])
    return _emit(args, {"signalled": total}, fmt.signalled({"signalled": total}))


def status_targets(args: argparse.Namespace, client: Client, color: bool) -> list[Any]:
    """`status SELECTOR`: each watcher named, its processes only those named."""
    shown: list[Any] = []
    for target in targets(client, "status", args.name):
        info = client.call("get_watcher", name=target.watcher)
        if target.wid is not None:
            info["processes"] = [p for p in info["processes"] if p["wid"] == target.wid]
        if shown and shown[-1]["name"] == info["name"]:
            shown[-1]["processes"] += info["processes"]
        else:
            shown.append(info)
    _emit(args, shown, "\n".join(fmt.watcher(w, color=color) for w in shown))
    return shown


def _emit(args: argparse.Namespace, data: Any, text: str) -> int:
    import json

    print(json.dumps(data, indent=2) if args.json else text)
    return EXIT_OK


# -- circusctl's verbs -------------------------------------------------------------------

def cmd_listen(args: argparse.Namespace, client: Client) -> int:
    """circusctl listen [TOPIC...]: the controller's events."""
    import json

    from ringleader.cli.common import use_color

    color = use_color(getattr(args, "color", None), sys.stdout)
    query: dict[str, str | list[str]] = {"topic": args.topics} if args.topics else {}
    for _event, data in client.stream("events", query=query):
        print(json.dumps(data) if args.json else fmt.event(data, color=color), flush=True)
    return EXIT_OK


def cmd_dstats(args: argparse.Namespace, client: Client) -> int:
    data = client.call("dstats")
    return _emit(args, data, fmt.daemon_stats(data))


def cmd_globaloptions(args: argparse.Namespace, client: Client) -> int:
    options = client.call("controller_options")["options"]
    if args.keys:
        missing = [k for k in args.keys if k not in options]
        if missing:
            raise ApiError(404, "not_found", f"no controller option {', '.join(missing)}")
        options = {k: options[k] for k in args.keys}
    return _emit(args, options, fmt.options(options))


def cmd_numwatchers(args: argparse.Namespace, client: Client) -> int:
    count = len(client.call("list")["watchers"])
    return _emit(args, {"numwatchers": count}, str(count))


def cmd_listpids(args: argparse.Namespace, client: Client) -> int:
    info = client.call("get_watcher", name=args.name)
    pids = sorted(p["pid"] for p in info.get("processes", []) if p.get("pid"))
    return _emit(args, {"pids": pids}, ",".join(map(str, pids)))


def cmd_kill(args: argparse.Namespace, client: Client) -> int:
    """circusctl kill NAME [PID] [SIGNAL]: without SIGNAL, the process (or every process)
    is stopped gracefully (stop signal, graceful_timeout, SIGKILL) and respawned, as circus
    does; with SIGNAL, that signal is sent (the watcher respawns what dies)."""
    if args.signal is not None:
        body: dict[str, Any] = {"signal": int(args.signal) if args.signal.isdigit()
                                else args.signal}
        if args.pid is not None:
            body["pid"] = args.pid
        data = client.call("signal", name=args.name, body=body)
        return _emit(args, data, fmt.signalled(data))
    if args.pid is None:
        info = client.call("restart", name=args.name)
    else:
        watcher = client.call("get_watcher", name=args.name)
        wid = next((p["wid"] for p in watcher["processes"] if p.get("pid") == args.pid), None)
        if wid is None:
            raise ApiError(404, "not_found", f"pid {args.pid} is not a process of watcher "
                           f"{args.name!r}")
        info = client.call("restart", name=args.name, query={"wid": str(wid)})
    return _emit(args, info, fmt.watcher_line(info))


def names_line(data: dict[str, Any]) -> str:
    """`list`: one name per line on a terminal, comma-separated otherwise (circusctl)."""
    names = [str(n) for n in data.get("watchers", data.get("wids", []))]
    return "\n".join(names) if sys.stdout.isatty() else ",".join(names)


__all__ = ["is_selector"]
