"""A watcher's status as plain data, in the shape of ``answers.WatcherInfo`` (the hottest
query: the API encodes it as it is, without building Structs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringleader.lifecycle.states import ProcessState as PS
from ringleader.lifecycle.states import WatcherState as WS

if TYPE_CHECKING:
    from ringleader.engine.watcher import Watcher


def watcher_status(watcher: Watcher) -> dict[str, Any]:
    """The watcher and its slots. An active watcher with a slot the respawn policy parked
    shows as flapping, or failed, with why."""
    procs = sorted(watcher.processes.values(), key=lambda p: p.wid)
    state, detail = watcher.state.value, ""
    if watcher.state is WS.STOPPED and watcher.desired:
        detail = watcher.refused
    if watcher.is_active:
        for parked in (PS.FAILED, PS.FLAPPING):
            hit = next((p for p in procs if p.state is parked), None)
            if hit is not None:
                state = parked.value
                detail = (f"{hit.name}: {hit.reason} (last exits: "
                          f"{', '.join(map(str, hit.exit_history)) or 'none'})")
                break
    return {
        "name": watcher.name,
        "group": watcher.group,
        "state": state,
        "desired": "running" if watcher.desired else "stopped",
        "detail": detail,
        "numprocesses": watcher.numprocesses,
        "running": sum(p.state is PS.RUNNING for p in procs),
        "processes": [
            {
                "wid": p.wid, "name": p.name, "pid": p.pid if p.is_alive else None,
                "state": p.state.value, "reason": p.reason, "status": p.status_text,
                "uptime": round(p.uptime(), 3), "restarts": p.restarts,
                "exit_code": p.exit_code, "exit_signal": p.exit_signal,
                "exit_history": list(p.exit_history),
            }
            for p in procs
        ],
    }
