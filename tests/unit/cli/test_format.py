"""The console's pure formatters."""

from __future__ import annotations

import re
import time

import pytest

from ringleader.cli import format as fmt

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_table_aligns_and_right_aligns() -> None:
    text = fmt.table(("NAME", "N", "NOTE"), [("a", 1, "x"), ("long-name", 100, None)],
                     right={1})
    assert text.splitlines() == [
        "NAME         N  NOTE",
        "a            1  x",
        "long-name  100  -",
    ]


def test_table_last_column_has_no_trailing_spaces() -> None:
    text = fmt.table(("A", "B"), [("x", ""), ("y", "long")])
    assert all(line == line.rstrip() for line in text.splitlines())


def test_colours_do_not_skew_alignment() -> None:
    rows = [("web", "active", "1/2"), ("db", "failed", "0/1")]
    plain = fmt.table(("W", "STATE", "N"), rows, right={2})
    coloured = fmt.table(("W", "STATE", "N"), rows, right={2},
                         paints={1: lambda s: fmt.paint_state(s, True)})
    assert coloured != plain
    assert ANSI.sub("", coloured) == plain


def test_no_colour_unless_asked() -> None:
    assert fmt.paint_state("active", False) == "active"
    assert fmt.paint_state("active", True) == "\x1b[32mactive\x1b[0m"
    assert fmt.paint_state("unknown-state", True) == "unknown-state"
    assert fmt.paint_state("backoff, retry in 3s", True) == "\x1b[33mbackoff, retry in 3s\x1b[0m"


def test_a_parked_watcher_says_when_it_is_tried_next() -> None:
    crash = {"name": "crash", "state": "backoff", "retry_at": time.time() + 12.9,
             "running": 0, "numprocesses": 1, "detail": "crash.1: exit code 1",
             "processes": []}
    assert fmt.watcher_state(crash) == "backoff, retry in 12s"
    assert fmt.watcher_state({**crash, "retry_at": time.time() - 1}) == "backoff, retry in 0s"
    assert fmt.watcher_state({**crash, "retry_at": None, "state": "failed"}) == "failed"
    assert fmt.watcher_state({"state": "active"}) == "active"  # an older controller
    assert "crash    backoff, retry in 12s      0/1" in fmt.status({"watchers": [crash]})
    assert fmt.watcher(crash).startswith("crash: backoff, retry in 12s (0/1 running)")


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "0s"), (59.9, "59s"), (60, "1m00s"), (125, "2m05s"),
    (3600, "1h00m"), (3725, "1h02m"), (86400 * 3 + 3600 * 4, "3d04h"),
])
def test_duration(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


@pytest.mark.parametrize(("n", "text"), [
    (None, "-"), (0, "0B"), (512, "512B"), (1024, "1.0K"), (3 << 20, "3.0M"),
    (int(1.5 * (1 << 30)), "1.5G"), (1 << 50, "1024.0T"),
])
def test_size(n: int | None, text: str) -> None:
    assert fmt.size(n) == text


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), ("x y", "x y"), (None, "-"), (3, "3"), (1.5, "1.5"),
    ([1, "a"], '[1, "a"]'), ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
])
def test_value(value: object, text: str) -> None:
    assert fmt.value(value) == text


def test_status_without_watchers() -> None:
    assert fmt.status({"watchers": []}) == "no watchers"


def test_watcher_processes_and_exit_column() -> None:
    info = {"name": "web", "state": "active", "numprocesses": 2, "running": 1, "processes": [
        {"wid": 1, "pid": 10, "state": "running", "uptime": 5, "restarts": 0,
         "exit_code": None, "exit_signal": None},
        {"wid": 2, "pid": None, "state": "backoff", "uptime": 0, "restarts": 2,
         "exit_code": None, "exit_signal": 9}]}
    lines = fmt.watcher(info).splitlines()
    assert lines[0] == "web: active (1/2 running)"
    assert lines[2].split() == ["1", "10", "running", "5s", "0", "-"]
    assert lines[3].split() == ["2", "-", "backoff", "0s", "2", "signal", "9"]


def test_watcher_without_processes_is_one_line() -> None:
    info = {"name": "w", "state": "stopped", "numprocesses": 0, "running": 0, "processes": []}
    assert fmt.watcher(info) == "w: stopped (0/0 running)"


def test_controller_line() -> None:
    line = fmt.controller({"controller": {"pid": 5, "version": "1", "uptime": 61,
                                          "config": "/c.toml"}})
    assert line == "controller pid 5, ringleader 1, up 1m01s, config /c.toml"


def test_get_values_one_and_several() -> None:
    opts = {"cmd": "sleep 1", "numprocesses": 2}
    assert fmt.get_values(opts, ["cmd"]) == "sleep 1"
    assert fmt.get_values(opts, ["numprocesses", "missing"]).splitlines() == [
        "OPTION        VALUE", "numprocesses  2", "missing       -"]


def test_options_sorted() -> None:
    assert fmt.options({"b": 1, "a": True}).splitlines() == ["OPTION  VALUE", "a       true",
                                                             "b       1"]
    assert fmt.options({}) == "no options"


def test_stats_totals_then_processes() -> None:
    data = {"at": 0, "watchers": [{"name": "w", "cpu_percent": 12.25, "rss": 2048,
                                   "processes": [{"wid": 1, "pid": 7, "cpu_percent": 12.25,
                                                  "rss": 2048, "uss": 1024, "num_fds": 4,
                                                  "num_children": 1, "age": 3,
                                                  "restarts": 0, "exit_history": []}]}]}
    lines = fmt.stats(data).splitlines()
    assert lines[1].split() == ["w", "12.2", "2.0K"]
    assert lines[2].split() == ["w.1", "7", "12.2", "2.0K", "1.0K", "4", "1", "3s", "0"]
    assert fmt.stats({"watchers": []}) == "no watchers"


def test_log_line_marks_stderr() -> None:
    at = time.mktime((2024, 1, 2, 3, 4, 5, 0, 0, -1))
    base = {"at": at, "watcher": "web", "wid": 2, "line": "hi"}
    assert fmt.log_line({**base, "stream": "stdout"}) == "03:04:05 web.2 | hi"
    assert fmt.log_line({**base, "stream": "stderr"}) == "03:04:05 web.2 ! hi"


def test_event_line() -> None:
    at = time.mktime((2024, 1, 2, 3, 4, 5, 0, 0, -1)) + 0.25
    ev = {"topic": "process.state", "at": at, "data": {"watcher": "web", "ok": True}}
    assert fmt.event(ev) == "03:04:05.250 process.state watcher=web ok=true"
    assert fmt.event({"topic": "x", "data": {}}) == "--:--:--.--- x"


def test_reloadconfig_signalled_numprocesses_sockets_ok() -> None:
    assert fmt.reloadconfig({"added": [], "removed": [], "changed": [], "rescaled": []}) == (
        "no changes")
    assert fmt.reloadconfig({"added": [], "removed": ["a", "b"], "changed": [],
                             "rescaled": ["c"]}) == "removed: a, b\nrescaled: c"
    assert fmt.signalled({"signalled": 1}) == "signalled 1 process"
    assert fmt.signalled({"signalled": 0}) == "signalled 0 processes"
    assert fmt.numprocesses({"name": "w", "numprocesses": 7}) == "7"
    assert fmt.sockets({"sockets": []}) == "no sockets"
    assert fmt.ok({"ok": True, "detail": ""}, "done") == "done"
    assert fmt.ok({"ok": True, "detail": "stopping"}, "done") == "stopping"
