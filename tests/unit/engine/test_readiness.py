"""readiness.explain: the one line a start that did not become ready answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringleader.engine.readiness import explain
from ringleader.lifecycle.states import ProcessState

PS = ProcessState


@dataclass
class Slot:
    name: str
    state: ProcessState
    reason: str = ""


@dataclass
class Owner:
    name: str = "web"


def _explain(slots: list[Slot], timeout: float = 2.0) -> str:
    any_slots: Any = slots
    any_owner: Any = Owner()
    return explain(any_owner, any_slots, timeout)


def test_slots_still_starting_at_the_timeout() -> None:
    line = _explain([Slot("web.1", PS.RUNNING), Slot("web.2", PS.STARTING, "pid 7")])
    assert line.startswith("watcher 'web': 1 of 2 process(es) not ready after 2s")
    assert "web.2 starting: pid 7" in line and "web.1" not in line


def test_slots_that_gave_up_are_named_without_a_timeout() -> None:
    line = _explain([Slot("web.1", PS.STARTING), Slot("web.2", PS.FAILED, "exit code 3")])
    assert "not ready (" in line and "after" not in line.split("(")[0]
    assert "web.2 failed: exit code 3" in line and "web.1" not in line


def test_many_slots_are_summed_up() -> None:
    line = _explain([Slot(f"web.{i}", PS.BACKOFF) for i in range(1, 6)], timeout=0)
    assert "5 of 5" in line and "web.3 backoff" in line and "web.4" not in line
    assert "and 2 more" in line
