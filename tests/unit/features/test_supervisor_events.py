"""supervisord's event names, payloads and envelope made from our states (pure)."""

from __future__ import annotations

from ringleader.features.supervisor_events import (
    StateNames,
    SupervisorEvent,
    envelope,
    subscribed,
    tick_event,
)


def test_subscriptions_by_event_class() -> None:
    assert subscribed("PROCESS_STATE_RUNNING", frozenset({"PROCESS_STATE"}))
    assert subscribed("TICK_60", frozenset({"TICK"}))
    assert subscribed("TICK_60", frozenset({"EVENT"}))
    assert not subscribed("TICK_60", frozenset({"TICK_5"}))


def test_envelope_is_supervisords_header_then_payload() -> None:
    data = envelope(SupervisorEvent("PROCESS_STATE_RUNNING", "processname:é", 7), "pool", 3)
    header, payload = data.split(b"\n", 1)
    assert header == (b"ver:3.0 server:supervisor serial:7 pool:pool poolserial:3 "
                      b"eventname:PROCESS_STATE_RUNNING len:14")
    assert len(payload) == 14  # bytes, not characters (é is two)


def test_tick_is_the_timeslice() -> None:
    assert tick_event(60, 1201063880.5) == ("TICK_60", "when:1201063860")


def test_a_respawn_is_exited_then_starting_and_failed_starts_count_tries() -> None:
    names = StateNames()
    key = ("web", 1)

    def change(old: str, new: str, expected: bool = False) -> list[tuple[str, str]]:
        return names.change(key, old, new, process="web", group="web", pid=42,
                            expected=expected)

    assert change("stopped", "starting") == [
        ("PROCESS_STATE_STARTING", "processname:web groupname:web from_state:STOPPED tries:0")]
    assert change("starting", "running")[0][1].endswith("from_state:STARTING pid:42")
    assert change("running", "backoff") == [
        ("PROCESS_STATE_EXITED", "processname:web groupname:web from_state:RUNNING "
                                 "expected:0 pid:42")]
    assert change("backoff", "starting")[0][1].endswith("from_state:EXITED tries:0")
    assert change("starting", "backoff")[0] == (
        "PROCESS_STATE_BACKOFF", "processname:web groupname:web from_state:STARTING tries:1")
    assert change("backoff", "starting")[0][1].endswith("from_state:BACKOFF tries:1")
    assert change("starting", "failed")[0][0] == "PROCESS_STATE_FATAL"
