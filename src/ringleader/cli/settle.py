"""`add NAME CMD --start`: does the new watcher stay up?

The controller answers `add --start` once the processes are ready, which for the default
readiness (`warmup_delay`, 0) is as soon as they are spawned: a command that exits at once
(`false`) is "running" then. The console waits for the respawn policy's own test of a good
start - each process up for `backoff.min_uptime` (1 s by default) - on the events stream,
and says which it is: up, or which process gave up and how.
"""

from __future__ import annotations

import time

from ringleader.api.client import ApiError, Client
from ringleader.cli.progress import PARKED, EventFeed

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_MIN_UPTIME = 1.0
SETTLE_CAP = 60.0  # a configured min_uptime longer than this is not waited for whole
TROUBLE = (*PARKED, "exited")


def settle(client: Client, feed: EventFeed, name: str) -> tuple[dict[str, Any], str | None]:
    """Wait (on `feed`, subscribed before the add) until the processes of watcher `name`
    have stayed up `min_uptime` or one of them went to backoff, flapping, failed or exited.
    -> (its WatcherInfo now, None) or (the same, what went wrong)."""
    window = min(_min_uptime(client, name), SETTLE_CAP)
    deadline = time.monotonic() + window
    trouble: dict[str, Any] | None = None
    exits: dict[Any, dict[str, Any]] = {}  # wid -> its last process.exited
    while trouble is None:
        item = feed.get(deadline - time.monotonic())
        if item is None or item[0] == "end":
            break
        event = item[1] or {}
        data = event.get("data") or {}
        if data.get("watcher") != name:
            continue
        if event.get("topic") == "process.exited":
            exits[data.get("wid")] = data
        elif data.get("new") in TROUBLE:
            trouble = data
    info: dict[str, Any] = client.call("get_watcher", name=name)
    if trouble is None:
        return info, None
    return info, describe(name, trouble, exits.get(trouble.get("wid")), window)


def describe(name: str, change: dict[str, Any], exited: dict[str, Any] | None,
             window: float) -> str:
    """`it does not stay up: bad.1 exited with code 1 within 1s of its start (then:
    backoff)`, from the process.state event that says so and the process.exited before it."""
    how = "did not start"
    if exited is not None and exited.get("signal"):
        how = f"was killed by signal {exited['signal']}"
    elif exited is not None and exited.get("exit_code") is not None:
        how = f"exited with code {exited['exit_code']}"
    return (f"it does not stay up: {name}.{change.get('wid')} {how} within {window:g}s of "
            f"its start (then: {change.get('new')})")


def _min_uptime(client: Client, name: str) -> float:
    try:
        options = client.call("options", name=name, query={"key": ["backoff"]})
    except ApiError:
        return DEFAULT_MIN_UPTIME  # a watcher with [flapping] instead has no backoff table
    backoff = options.get("options", {}).get("backoff") or {}
    value = backoff.get("min_uptime", DEFAULT_MIN_UPTIME)
    return float(value) if isinstance(value, int | float) else DEFAULT_MIN_UPTIME
