"""The controller's sd_notify sender: its pure parts."""

from __future__ import annotations

import pytest

from ringleader.proc.sdnotify import notify_address, summary, watchdog_interval


@pytest.mark.parametrize(("value", "address"), [
    ("/run/systemd/notify", "/run/systemd/notify"),
    ("@abstract-name", "\0abstract-name"),
    ("@", None),
    ("relative/path", None),
    ("", None),
])
def test_notify_address(value: str, address: str | None) -> None:
    assert notify_address(value) == address


@pytest.mark.parametrize(("env", "interval"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # another process's
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    assert watchdog_interval(env, 42) == interval


def test_summary() -> None:
    watchers = [
        {"state": "active", "running": 3, "numprocesses": 3, "desired": "running"},
        {"state": "failed", "running": 0, "numprocesses": 2, "desired": "running"},
        {"state": "stopped", "running": 0, "numprocesses": 1, "desired": "stopped"},
    ]
    assert summary(watchers) == ("3 watchers, 1 active, 1 failed, 1 stopped; "
                                 "3/5 processes running")
    assert summary([]) == "0 watchers; 0/0 processes running"
    assert summary([watchers[0]]) == "1 watcher, 1 active; 3/3 processes running"
