"""The console commands: each turns its arguments into API calls and prints the answer.

They hold no engine logic (the controller does the work) and import neither the engine nor
msgspec: the client, the formatters and the stdlib only.
"""

from __future__ import annotations

import json
import os
import sys

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.cli import format as fmt
from ringleader.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    UsageError,
    error,
    make_client,
    resolve_endpoint,
)

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from typing import Any

READ_TIMEOUT = 30.0
ACTION_TIMEOUT = 600.0  # stopping a watcher may take its graceful_timeout, and more than one


def run_console(args: argparse.Namespace,
                command: Callable[[argparse.Namespace, Client], int], *, slow: bool) -> int:
    """Run one console command (`slow`: it may wait for processes to start or stop); maps
    failures to the exit codes, one line on stderr."""
    endpoint = resolve_endpoint(args)
    client = make_client(args, endpoint, ACTION_TIMEOUT if slow else READ_TIMEOUT)
    try:
        return command(args, client)
    except ApiError as exc:
        error(str(exc))
        return EXIT_FAILED
    except Unreachable as exc:
        error(str(exc))
        return EXIT_UNREACHABLE
    finally:
        client.close()


# -- output ----------------------------------------------------------------------------

def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> int:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        text = human(data)
        if text:
            print(text)
    return EXIT_OK


def emit_stream(args: argparse.Namespace, events: Iterator[tuple[str, Any]],
                human: Callable[[Any], str]) -> int:
    for _event, data in events:
        print(json.dumps(data) if args.json else human(data), flush=True)
    return EXIT_OK


# -- the commands ----------------------------------------------------------------------

def cmd_status(args: argparse.Namespace, client: Client) -> int:
    color = use_color()
    if args.name:
        return emit(args, client.call("get_watcher", name=args.name),
                    lambda d: fmt.watcher(d, color=color))
    return emit(args, client.call("status"), lambda d: fmt.status(d, color=color))


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("list"), fmt.names)


def cmd_lifecycle(args: argparse.Namespace, client: Client) -> int:
    """start, stop, restart, reload: one watcher, or all."""
    color = use_color()
    op = args.command
    if args.name:
        return emit(args, client.call(op, name=args.name),
                    lambda d: fmt.watcher_line(d, color=color))
    return emit(args, client.call(op + "_all"), lambda d: fmt.status(d, color=color))


def cmd_reloadconfig(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("reloadconfig"), fmt.reloadconfig)


def cmd_add(args: argparse.Namespace, client: Client) -> int:
    if args.numprocesses < 0:
        raise UsageError("ringleader add: -n must be 0 or more")
    body = {"name": args.name, "cmd": args.cmd, "numprocesses": args.numprocesses,
            "start": args.start}
    color = use_color()
    return emit(args, client.call("add", body=body),
                lambda d: "added " + fmt.watcher_line(d, color=color))


def cmd_rm(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("rm", name=args.name),
                lambda d: fmt.ok(d, f"removed {args.name}"))


def cmd_count(args: argparse.Namespace, client: Client) -> int:
    """incr, decr."""
    if args.count < 1:
        raise UsageError(f"ringleader {args.command}: N must be 1 or more")
    return emit(args, client.call(args.command, name=args.name, body={"count": args.count}),
                fmt.numprocesses)


def cmd_numprocesses(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("numprocesses", name=args.name), fmt.numprocesses)


def cmd_signal(args: argparse.Namespace, client: Client) -> int:
    sig: str | int = int(args.signal) if args.signal.isdigit() else args.signal
    body: dict[str, Any] = {"signal": sig, "children": args.children}
    if args.pid is not None:
        body["pid"] = args.pid
    if args.wid is not None:
        body["wid"] = args.wid
    return emit(args, client.call("signal", name=args.name, body=body), fmt.signalled)


def cmd_set(args: argparse.Namespace, client: Client) -> int:
    pairs: list[str] = args.pairs
    if len(pairs) % 2:
        raise UsageError("ringleader set: expected KEY VALUE pairs, got an odd number of "
                         "words")
    # values go as strings: the controller converts them as the config loader does
    options = dict(zip(pairs[::2], pairs[1::2], strict=True))
    data = client.call("set", name=args.name, body={"options": options})
    changed = {k: v for k, v in data.get("options", {}).items() if k in options}
    return emit(args, data, lambda d: fmt.options(changed or d.get("options", {})))


def cmd_get(args: argparse.Namespace, client: Client) -> int:
    data = client.call("options", name=args.name, query={"key": args.keys})
    return emit(args, data, lambda d: fmt.get_values(d.get("options", {}), args.keys))


def cmd_options(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("options", name=args.name),
                lambda d: fmt.options(d.get("options", {})))


def cmd_stats(args: argparse.Namespace, client: Client) -> int:
    query = {"watcher": args.name} if args.name else None
    return emit(args, client.call("stats", query=query), fmt.stats)


def cmd_logs(args: argparse.Namespace, client: Client) -> int:
    query: dict[str, str | list[str]] = {}
    if args.name:
        query["watcher"] = args.name
    if args.lines is not None:
        if args.lines < 0:
            raise UsageError("ringleader logs: -n must be 0 or more")
        query["lines"] = str(args.lines)
    color = use_color()
    if args.follow:
        return emit_stream(args, client.stream("logs_stream", query=query),
                           lambda d: fmt.log_line(d, color=color))
    return emit(args, client.call("logs", query=query), lambda d: fmt.logs(d, color=color))


def cmd_events(args: argparse.Namespace, client: Client) -> int:
    query: dict[str, str | list[str]] = {"topic": args.topic} if args.topic else {}
    color = use_color()
    return emit_stream(args, client.stream("events", query=query),
                       lambda d: fmt.event(d, color=color))


def cmd_sockets(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("sockets"), fmt.sockets)


def cmd_quit(args: argparse.Namespace, client: Client) -> int:
    data = client.call("quit")
    if args.no_wait:
        return emit(args, data, lambda d: fmt.ok(d, "controller stopping"))
    wait_gone(client, args.timeout or ACTION_TIMEOUT)
    return emit(args, data, lambda d: "controller stopped")


def wait_gone(client: Client, timeout: float) -> None:
    """Until the controller stops answering (it closes its socket last, once every watcher
    has stopped)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        client.close()  # a fresh connection each time: the old one may be served still
        try:
            client.call("status")
        except Unreachable:
            return
        except ApiError:
            pass  # 503 unavailable while shutting down: still there
        if time.monotonic() > deadline:
            raise ApiError(0, "timeout", f"the controller still answers after {timeout:g}s")
        time.sleep(0.05)
