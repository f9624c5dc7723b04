"""supervisord's events as its event listeners read them, made from Ringleader's: the names,
the payloads, the envelope, and the mapping of our process states onto supervisord's.
Pure: no I/O, no clock (the caller passes the time of a TICK).

Our lifecycle has states supervisord does not (``flapping``) and moves it does differently
(a respawned process goes ``running -> backoff -> starting``; supervisord says ``RUNNING ->
EXITED -> STARTING``), so ``StateNames`` keeps, per process, the supervisord state it last
announced: that is the next event's ``from_state``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StateNames", "SupervisorEvent", "envelope", "state_name", "subscribed",
           "tick_event"]

TICK_PERIODS = (5, 60, 3600)


@dataclass(frozen=True, slots=True)
class SupervisorEvent:
    name: str  # PROCESS_STATE_RUNNING, TICK_5, ...
    payload: str
    serial: int  # the controller's event serial


def subscribed(event_name: str, subscriptions: frozenset[str]) -> bool:
    """supervisord subscribes by event class: EVENT is every event, PROCESS_STATE every
    PROCESS_STATE_*, TICK every TICK_*."""
    if "EVENT" in subscriptions or event_name in subscriptions:
        return True
    return any(event_name.startswith(s + "_") for s in subscriptions)


def envelope(event: SupervisorEvent, pool: str, pool_serial: int) -> bytes:
    """The header line and payload written to a listener's stdin (``len`` in bytes)."""
    payload = event.payload.encode("utf-8", "replace")
    header = (f"ver:3.0 server:supervisor serial:{event.serial} pool:{pool} "
              f"poolserial:{pool_serial} eventname:{event.name} len:{len(payload)}\n")
    return header.encode() + payload


def tick_event(period: int, now: float) -> tuple[str, str]:
    """(name, payload) of TICK_5 / TICK_60 / TICK_3600 for the timeslice `now` falls in
    (supervisord sends one when the timeslice rolls over)."""
    return f"TICK_{period}", f"when:{timeslice(period, now)}"


def timeslice(period: int, now: float) -> int:
    return int(now - (now % period))


# Our states -> supervisord's (flapping: parked before a retry, as BACKOFF is).
_NAMES = {"stopped": "STOPPED", "starting": "STARTING", "running": "RUNNING",
          "stopping": "STOPPING", "backoff": "BACKOFF", "exited": "EXITED",
          "flapping": "BACKOFF", "failed": "FATAL"}


def state_name(ours: str) -> str:
    """supervisord's name of our process state `ours` (``running`` -> ``RUNNING``)."""
    return _NAMES.get(ours, "UNKNOWN")


class StateNames:
    """Turns one process's state changes into supervisord PROCESS_STATE_* events."""

    __slots__ = ("_last", "_tries")

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], str] = {}  # (watcher, wid) -> last announced
        self._tries: dict[tuple[str, int], int] = {}  # failed starts since it last ran

    def change(self, key: tuple[str, int], old: str, new: str, *, process: str, group: str,
               pid: int | None, expected: bool) -> list[tuple[str, str]]:
        """[(event name, payload)] for the move `old` -> `new` of process `key`; `expected`:
        whether its last exit was (an exit code of exit_codes, no signal)."""
        if new == "backoff" and old == "running":
            # died and is respawned: supervisord announces it EXITED, then STARTING
            sequence = ["EXITED"]
        else:
            sequence = [_NAMES.get(new, "UNKNOWN")]
        if sequence == ["BACKOFF"]:
            self._tries[key] = self._tries.get(key, 0) + 1
        elif sequence == ["RUNNING"] or new == "stopped":
            self._tries.pop(key, None)
        out = []
        for state in sequence:
            source = self._last.get(key, _NAMES.get(old, "STOPPED"))
            self._last[key] = state
            if state == source and state != "BACKOFF":
                continue  # nothing supervisord would announce
            fields = [("processname", process), ("groupname", group), ("from_state", source)]
            if state in ("STARTING", "BACKOFF"):
                fields.append(("tries", str(self._tries.get(key, 0))))
            elif state == "EXITED":
                fields += [("expected", "1" if expected else "0"), ("pid", str(pid))]
            elif state in ("RUNNING", "STOPPING", "STOPPED"):
                fields.append(("pid", str(pid)))
            out.append((f"PROCESS_STATE_{state}",
                        " ".join(f"{k}:{v}" for k, v in fields)))
        return out

    def forget(self, watcher: str) -> None:
        for key in [k for k in self._last if k[0] == watcher]:
            self._last.pop(key, None)
            self._tries.pop(key, None)
