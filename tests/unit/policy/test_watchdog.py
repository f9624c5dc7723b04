"""ResourceWatchdog: a reason after `checks` consecutive checks over a limit."""

from __future__ import annotations

from ringleader.config.features import WatchdogConfig
from ringleader.policy.watchdog import ResourceWatchdog

MB = 1_048_576


def test_memory_over_the_limit_for_checks_in_a_row() -> None:
    w = ResourceWatchdog(WatchdogConfig(max_rss=50 * MB, checks=3))
    key = (1, 1000)
    assert w.check(key, 100 * MB, 0) is None
    assert w.check(key, 100 * MB, 0) is None
    assert w.check(key, 120 * MB, 0) == "memory 120.0 MiB over 50.0 MiB for 3 checks in a row"


def test_a_check_under_the_limits_resets_the_count() -> None:
    w = ResourceWatchdog(WatchdogConfig(max_rss=50 * MB, checks=2))
    key = (1, 1000)
    assert w.check(key, 60 * MB, 0) is None
    assert w.check(key, 50 * MB, 0) is None  # at the limit is not over it
    assert w.check(key, 60 * MB, 0) is None
    assert w.check(key, 60 * MB, 0) is not None


def test_cpu_limit_and_both_limits_in_the_reason() -> None:
    w = ResourceWatchdog(WatchdogConfig(max_rss=10 * MB, max_cpu=90, checks=1))
    assert w.check((1, 1), 0, 150.0) == "CPU 150.0% over 90% for 1 check"
    assert w.check((1, 1), 0, 90.0) is None
    assert w.check((2, 2), 20 * MB, 95) == (
        "memory 20.0 MiB over 10.0 MiB and CPU 95.0% over 90% for 1 check")


def test_no_limit_configured_never_fires() -> None:
    w = ResourceWatchdog(WatchdogConfig(checks=1))
    assert w.check((1, 1), 10**12, 10_000.0) is None


def test_processes_are_counted_apart_and_a_reason_starts_a_new_count() -> None:
    w = ResourceWatchdog(WatchdogConfig(max_cpu=50, checks=2))
    a, b = (1, 100), (2, 200)
    assert w.check(a, 0, 99) is None
    assert w.check(b, 0, 99) is None
    assert w.check(b, 0, 1) is None
    assert w.check(a, 0, 99) is not None
    assert w.check(b, 0, 99) is None
    assert w.check(a, 0, 99) is None  # counted afresh after a reason
    assert w.check(a, 0, 99) is not None


def test_forget_and_retain_drop_the_counts() -> None:
    w = ResourceWatchdog(WatchdogConfig(max_cpu=50, checks=2))
    a, b, c = (1, 100), (2, 200), (3, 300)
    for key in (a, b, c):
        assert w.check(key, 0, 99) is None
    w.forget(a)
    w.retain({b})  # c's process is gone
    assert w.check(a, 0, 99) is None
    assert w.check(b, 0, 99) is not None
    assert w.check(c, 0, 99) is None
    assert w.config.checks == 2
