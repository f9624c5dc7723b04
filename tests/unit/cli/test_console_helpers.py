"""Pure parts of the console: --since, TOML strings, suggestions, colours, the progress
view and the `add --start` verdict."""

from __future__ import annotations

import io
import time
import tomllib

import pytest

from ringleader.cli.common import edit_distance, suggestion, use_color
from ringleader.cli.progress import Activity
from ringleader.cli.settle import describe
from ringleader.cli.timespec import parse_since
from ringleader.cli.token import toml_string

NOW = time.mktime((2026, 11, 28, 12, 0, 0, 0, 0, -1))  # local noon


@pytest.mark.parametrize(("text", "back"), [
    ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("1.5h", 5400), ("1w", 604800),
    ("11:30", 1800), ("11:59:30", 30), ("13:00", 23 * 3600),  # later today: yesterday's
    ("2026-11-28T11:00", 3600), ("2026-11-28 11:00:00.5", 3599.5),
])
def test_since(text: str, back: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(NOW - back)


def test_since_with_an_offset() -> None:
    assert parse_since("2026-11-28T12:00:00+00:00") == 1795867200.0


@pytest.mark.parametrize("text", ["", "10", "abc", "-5m", "1x", "25:00", "12:60", "5 m"])
def test_since_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_since(text, NOW)


@pytest.mark.parametrize("text", ['ci "prod"', "back\\slash", "new\nline", "tab\tand\r",
                                  "\x00\x1f\x7f", "ünïcødé ✓", "'single'", '"""', ""])
def test_toml_strings_round_trip(text: str) -> None:
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


def test_suggestions() -> None:
    names = ["status", "stats", "start", "stop", "logs", "rm"]
    assert edit_distance("stauts", "status") == 1  # a swap counts once
    assert suggestion("stauts", names) == "status"
    assert suggestion("lgos", names) == "logs"
    assert suggestion("remove", names, {"remove": "rm"}) == "rm"
    assert suggestion("xyzzy", names) is None


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("mode", "env", "tty", "expected"), [
    (None, {}, True, True), (None, {}, False, False),
    (None, {"NO_COLOR": "1"}, True, False), (None, {"NO_COLOR": ""}, True, True),
    (None, {"FORCE_COLOR": "1"}, False, True), (None, {"FORCE_COLOR": ""}, False, False),
    (None, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ("auto", {}, True, True), ("always", {"NO_COLOR": "1"}, False, True),
    ("never", {"FORCE_COLOR": "1"}, True, False),
])
def test_colour_rules(mode: str | None, env: dict[str, str], tty: bool, expected: bool,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_color(mode, Tty() if tty else io.StringIO()) is expected


def _state(wid: int, pid: int | None, new: str, watcher: str = "web") -> dict[str, object]:
    return {"topic": "process.state",
            "data": {"watcher": watcher, "wid": wid, "pid": pid, "old": "x", "new": new}}


def test_activity_follows_the_processes_in_scope() -> None:
    status = {"watchers": [
        {"name": "web", "processes": [{"wid": 1, "pid": 11, "state": "running"},
                                      {"wid": 2, "pid": None, "state": "backoff"}]},
        {"name": "db", "processes": [{"wid": 1, "pid": 21, "state": "running"}]}]}
    every = Activity("stop", status)
    assert every.line(3.4) == "stop: db 1 running; web 1 running, 1 backoff (3s)"
    one = Activity("reload web", status, "web")
    for act in (every, one):
        act.feed(_state(1, 12, "starting"))  # the reload's new process
        act.feed(_state(1, 11, "stopping"))
        act.feed(_state(2, 13, "starting"))  # the parked slot respawns
        act.feed(_state(1, 21, "stopping", watcher="db"))
    assert one.line(0) == "reload web: 2 starting, 1 stopping (0s)"
    assert every.line(0) == "stop: db 1 stopping; web 2 starting, 1 stopping (0s)"
    one.feed(_state(1, 11, "stopped"))
    one.feed(_state(1, 12, "running"))
    one.feed(_state(2, 13, "running"))
    assert one.line(1) == "reload web: 2 running (1s)"
    for pid in (12, 13):
        one.feed(_state(1, pid, "stopped"))
    assert one.line(2) == "reload web: no process (2s)"
    one.feed({"topic": "process.state", "data": {"watcher": "web"}})  # ignored: no state


def test_add_start_verdict_words() -> None:
    change = {"watcher": "bad", "wid": 1, "new": "backoff"}
    assert describe("bad", change, {"exit_code": 1, "signal": None}, 1.0) == (
        "it does not stay up: bad.1 exited with code 1 within 1s of its start (then: backoff)")
    assert "was killed by signal 9" in describe("bad", change, {"signal": 9}, 1.0)
    assert "bad.1 did not start" in describe("bad", change, None, 1.0)
