"""The console commands: each turns its arguments into API calls and prints the answer.

They hold no engine logic (the controller does the work) and import neither the engine nor
msgspec: the client, the formatters and the stdlib only.
"""

from __future__ import annotations

import os
import sys

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.cli import format as fmt
from ringleader.cli.common import (
    EXIT_DEGRADED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    UsageError,
    error,
    json_error,
    make_client,
    resolve_endpoint,
)
from ringleader.cli.common import use_color as _use_color
from ringleader.cli.selectors import is_selector

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
        return _failed(args, exc.code, str(exc), exc.detail or exc.code, EXIT_FAILED)
    except Unreachable as exc:
        return _failed(args, "unreachable", str(exc), str(exc),
                       EXIT_UNREACHABLE)
    finally:
        client.close()


def _failed(args: argparse.Namespace, code: str, message: str, detail: str,
            exit_code: int) -> int:
    """One line on stderr; with --json also one JSON object on stdout (after whatever a
    stream printed), so a script reading stdout sees why it ended."""
    error(message)
    if getattr(args, "json", False):
        json_error(code, detail, exit_code)
    return exit_code


# -- output ----------------------------------------------------------------------------

def use_color(args: argparse.Namespace) -> bool:
    return _use_color(getattr(args, "color", None), sys.stdout)


def emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> int:
    if args.json:
        import json  # only here: it imports re, ~4 ms of a plain `status`

        print(json.dumps(data, indent=2))
    else:
        text = human(data)
        if text:
            print(text)
    return EXIT_OK


def emit_stream(args: argparse.Namespace, events: Iterator[tuple[str, Any]],
                human: Callable[[Any], str]) -> int:
    import json

    for _event, data in events:
        print(json.dumps(data) if args.json else human(data), flush=True)
    return EXIT_OK


# -- the commands ----------------------------------------------------------------------

# a process given up on, parked by the flapping policy, or in a crash loop's backoff
DEGRADED = ("failed", "flapping", "backoff")


def cmd_status(args: argparse.Namespace, client: Client) -> int:
    """Exit 4 (EXIT_DEGRADED) when a watcher shown is failed, flapping or backing off."""
    color = use_color(args)
    if args.name and is_selector(args.name):  # web:*, 'work*', web:web_00
        from ringleader.cli.circusctl import status_targets

        shown = status_targets(args, client, color)
    elif args.name:
        info = client.call("get_watcher", name=args.name)
        emit(args, info, lambda d: fmt.watcher(d, color=color))
        shown = [info]
    else:
        status = client.call("status")
        emit(args, status, lambda d: fmt.status(d, color=color))
        shown = status.get("watchers", [])
    return EXIT_DEGRADED if any(w.get("state") in DEGRADED for w in shown) else EXIT_OK


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    """Watcher names; with NAME, its process slots (circusctl list NAME)."""
    from ringleader.cli.circusctl import names_line

    if args.name:
        info = client.call("get_watcher", name=args.name)
        return emit(args, {"wids": [p["wid"] for p in info.get("processes", [])]},
                    names_line)
    return emit(args, client.call("list"), names_line)


def watched(args: argparse.Namespace, client: Client, call: Callable[[], Any], label: str,
            scope: str | None) -> Any:
    """`call()` (API calls on `client`), with a progress line on a terminal (see
    cli.progress) fed by the events of watcher `scope` (None: all)."""
    from ringleader.cli.progress import wants_progress

    if not wants_progress(args.json):
        return call()
    from ringleader.cli.progress import with_progress

    feed = make_client(args, client.endpoint, READ_TIMEOUT)
    return with_progress(call, client, feed, label, scope)


def cmd_lifecycle(args: argparse.Namespace, client: Client) -> int:
    """start, stop, restart, reload: one watcher, or all."""
    color = use_color(args)
    op = args.command
    name = args.name
    if name and is_selector(name):
        from ringleader.cli.circusctl import on_targets

        return on_targets(args, client)
    if name:
        data = watched(args, client, lambda: client.call(op, name=name), f"{op} {name}", name)
        return emit(args, data, lambda d: fmt.watcher_line(d, color=color))
    data = watched(args, client, lambda: client.call(op + "_all"), op, None)
    return emit(args, data, lambda d: fmt.status(d, color=color))


def cmd_reloadconfig(args: argparse.Namespace, client: Client) -> int:
    data = watched(args, client, lambda: client.call("reloadconfig"), "reloadconfig", None)
    return emit(args, data, fmt.reloadconfig)


def cmd_add(args: argparse.Namespace, client: Client) -> int:
    if args.numprocesses < 0:
        raise UsageError("ringleader add: -n must be 0 or more")
    body = {"name": args.name, "cmd": args.cmd, "numprocesses": args.numprocesses,
            "start": args.start}
    color = use_color(args)
    if not args.start:
        return emit(args, client.call("add", body=body),
                    lambda d: "added " + fmt.watcher_line(d, color=color))
    from ringleader.cli.progress import EventFeed
    from ringleader.cli.settle import settle

    # Subscribed before the add: a process that dies at once cannot slip past.
    with EventFeed(make_client(args, client.endpoint, READ_TIMEOUT),
                   ("process.state", "process.exited")) as feed:
        client.call("add", body=body)
        info, trouble = settle(client, feed, args.name)
    if trouble is not None:  # the watcher stays, as the controller's respawn policy has it
        raise ApiError(0, "start_failed", f"added {args.name}, but {trouble}")
    return emit(args, info, lambda d: "added " + fmt.watcher_line(d, color=color))


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


def _is_signal(word: str) -> bool:
    import signal

    name = word.upper()
    return word.isdigit() or hasattr(signal.Signals, name if name.startswith("SIG")
                                     else f"SIG{name}")


def cmd_signal(args: argparse.Namespace, client: Client) -> int:
    if _is_signal(args.name) and not _is_signal(args.signal):  # supervisorctl: SIG NAME
        args.name, args.signal = args.signal, args.name
    sig: str | int = int(args.signal) if args.signal.isdigit() else args.signal
    body: dict[str, Any] = {"signal": sig, "children": args.children}
    if args.pid is not None:
        body["pid"] = args.pid
    if args.wid is not None:
        body["wid"] = args.wid
    if is_selector(args.name):
        from ringleader.cli.circusctl import signal_targets

        return signal_targets(args, client, body)
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
    if args.stream:
        query["stream"] = args.stream
    if args.wid is not None:
        if args.wid < 0:
            raise UsageError("ringleader logs: --wid must be 0 or more")
        query["wid"] = str(args.wid)
    if args.since is not None:
        from ringleader.cli.timespec import parse_since

        try:
            query["since"] = f"{parse_since(args.since):.3f}"
        except ValueError as exc:
            raise UsageError(f"ringleader logs: --since {args.since!r}: {exc}") from None
    color = use_color(args)
    if args.follow:
        return emit_stream(args, client.stream("logs_stream", query=query),
                           lambda d: fmt.log_line(d, color=color))
    return emit(args, client.call("logs", query=query), lambda d: fmt.logs(d, color=color))


def cmd_events(args: argparse.Namespace, client: Client) -> int:
    query: dict[str, str | list[str]] = {"topic": args.topic} if args.topic else {}
    color = use_color(args)
    return emit_stream(args, client.stream("events", query=query),
                       lambda d: fmt.event(d, color=color))


def cmd_sockets(args: argparse.Namespace, client: Client) -> int:
    return emit(args, client.call("sockets"), fmt.sockets)


def cmd_quit(args: argparse.Namespace, client: Client) -> int:
    """Asks the controller to stop; unless --no-wait, returns once its process is gone: a
    pidfd on it (its pid from the unix socket's SO_PEERCRED, opened before asking, so the
    pid cannot be reused meanwhile), else until it stops answering (https, or a controller
    in another pid namespace)."""
    if args.no_wait:
        return emit(args, client.call("quit"), lambda d: fmt.ok(d, "controller stopping"))
    timeout = args.timeout or ACTION_TIMEOUT
    # The requests are answered at once by a live controller: a hung one (SIGSTOPped)
    # must not hold `quit` for ACTION_TIMEOUT; --timeout bounds them as it bounds the wait.
    client.timeout = min(timeout, READ_TIMEOUT)
    pidfd = _controller_pidfd(client)

    def quit_and_wait() -> Any:
        data = client.call("quit")
        if pidfd is not None:
            wait_exit(pidfd, timeout)
        else:
            wait_gone(client, timeout)
        return data

    try:
        data = watched(args, client, quit_and_wait, "quit", None)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return emit(args, data, lambda d: "controller stopped")


def _controller_pidfd(client: Client) -> int | None:
    pid = client.peer_pid()
    if pid is None:
        return None
    status = client.call("status")
    if status.get("controller", {}).get("pid") != pid:
        return None  # another pid namespace, or a proxy in between: not the one to wait for
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone already, or no pidfd here (pre-5.3 kernel)
        return None


def wait_exit(pidfd: int, timeout: float) -> None:
    """Until the process of `pidfd` has exited: the fd becomes readable then."""
    import select

    ready, _, _ = select.select([pidfd], [], [], timeout)
    if not ready:
        raise ApiError(0, "timeout", f"the controller still runs after {timeout:g}s")


def wait_gone(client: Client, timeout: float) -> None:
    """Until the controller stops answering (it closes its socket last, once every watcher
    has stopped)."""
    import time

    deadline = time.monotonic() + timeout
    base = client.timeout
    while True:
        client.close()  # a fresh connection each time: the old one may be served still
        client.timeout = max(0.05, min(base, deadline - time.monotonic()))  # not past it
        try:
            client.call("status")
        except Unreachable:
            return
        except ApiError:
            pass  # 503 unavailable while shutting down: still there
        if time.monotonic() > deadline:
            raise ApiError(0, "timeout", f"the controller still answers after {timeout:g}s")
        time.sleep(0.05)
