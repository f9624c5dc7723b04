"""A watcher's status as plain data, in the shape of ``answers.WatcherInfo`` (the hottest
query: the API encodes it as it is, without building Structs)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ringleader.lifecycle.states import ProcessState as PS
from ringleader.lifecycle.states import WatcherState as WS

if TYPE_CHECKING:
    from ringleader.engine.process import Process
    from ringleader.engine.watcher import Watcher

# What a parked slot makes of an active watcher, the worst first: given up on, parked by
# the flapping policy, waiting out a backoff delay (a crash loop: "active 0/1" hid it).
_PARKED = (PS.FAILED, PS.FLAPPING, PS.BACKOFF)


def watcher_status(watcher: Watcher) -> dict[str, Any]:
    """The watcher and its slots. An active watcher with a slot the respawn policy parked
    shows as failed, flapping or backoff, with why and when the next retry is due."""
    procs = sorted(watcher.processes.values(), key=lambda p: p.wid)
    now = time.time()
    retry_at = {p.wid: _retry_at(p, now) for p in procs}
    state, detail, when = watcher.state.value, "", None
    if watcher.state is WS.STOPPED and watcher.desired:
        detail = watcher.refused
    if watcher.is_active:
        hit = _worst_parked(watcher, procs, retry_at)
        if hit is not None:
            state, when = hit.state.value, retry_at[hit.wid]
            detail = (f"{hit.name}: {hit.reason} (last exits: "
                      f"{', '.join(map(str, hit.exit_history)) or 'none'})")
    return {
        "name": watcher.name,
        "group": watcher.group,
        "state": state,
        "desired": "running" if watcher.desired else "stopped",
        "detail": detail,
        "retry_at": when,
        "numprocesses": watcher.numprocesses,
        "running": sum(p.state is PS.RUNNING for p in procs),
        "processes": [
            {
                "wid": p.wid, "name": p.name, "pid": p.pid if p.is_alive else None,
                "state": p.state.value, "reason": p.reason, "status": p.status_text,
                "uptime": round(p.uptime(), 3), "restarts": p.restarts,
                "exit_code": p.exit_code, "exit_signal": p.exit_signal,
                "exit_history": list(p.exit_history), "retry_at": retry_at[p.wid],
            }
            for p in procs
        ],
    }


def _retry_at(proc: Process, now: float) -> float | None:
    retry_in = proc.retry_in()
    return None if retry_in is None else round(now + retry_in, 3)


def _worst_parked(watcher: Watcher, procs: list[Process],
                  retry_at: dict[int, float | None]) -> Process | None:
    """The slot that tells the watcher's state, if one is parked. A backoff counts only
    while a delayed retry is due for a slot still wanted: an immediate respawn (the
    policy's free retries) is no crash loop yet."""
    for parked in _PARKED:
        for p in procs:
            if p.state is parked and (parked is not PS.BACKOFF or (
                    retry_at[p.wid] is not None and watcher.wants(p.wid))):
                return p
    return None
