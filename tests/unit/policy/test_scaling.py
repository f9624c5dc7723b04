"""Autoscaler: decisions from CPU samples, with a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ringleader.config.features import AutoscaleConfig
from ringleader.policy.scaling import Autoscaler, ScaleDecision

CONFIG = AutoscaleConfig(min=1, max=4, step=1, cooldown=30, grow_above=80, grow_after=10,
                         shrink_below=10, shrink_after=60, interval=2)


def feed(scaler: Autoscaler, current: int, cpu: Sequence[float], start: float, end: float,
         every: float = 2.0) -> list[tuple[float, ScaleDecision]]:
    """Samples every `every` seconds in [start, end]; the decisions, carried out."""
    out = []
    t = start
    while t <= end:
        d = scaler.decide(t, current, cpu)
        if d is not None:
            out.append((t, d))
            current = d.target
        t += every
    return out


def test_grows_once_all_stayed_busy_for_grow_after() -> None:
    s = Autoscaler(CONFIG)
    assert s.decide(0, 2, [95, 85]) is None
    assert s.decide(8, 2, [90, 80]) is None  # 80 is at grow_above: busy
    d = s.decide(10, 2, [99, 81])
    assert d == ScaleDecision(3, "all 2 processes at or above 80% CPU for 10.0s: 2 -> 3")


def test_one_process_not_busy_restarts_the_busy_clock() -> None:
    s = Autoscaler(CONFIG)
    assert s.decide(0, 2, [95, 95]) is None
    assert s.decide(6, 2, [95, 79.9]) is None
    assert s.decide(12, 2, [95, 95]) is None
    assert s.decide(21, 2, [95, 95]) is None
    assert s.decide(22, 2, [95, 95]) is not None  # 10 s after 12


def test_busy_needs_every_process_measured() -> None:
    s = Autoscaler(CONFIG)
    # 3 slots, only 2 alive (the third in backoff, say): not proof of load.
    assert feed(s, 3, [95, 95], 0, 100) == []
    assert feed(s, 3, [], 100, 200) == []


def test_shrinks_once_all_stayed_idle_for_shrink_after() -> None:
    s = Autoscaler(CONFIG)
    assert s.decide(0, 3, [1, 9.9, 0]) is None
    assert s.decide(59, 3, [0, 0, 0]) is None
    d = s.decide(60, 3, [0, 0, 0])
    assert d == ScaleDecision(2, "all 3 processes below 10% CPU for 60.0s: 3 -> 2")


def test_in_between_load_changes_nothing() -> None:
    s = Autoscaler(CONFIG)
    assert feed(s, 2, [50, 50], 0, 1000) == []
    assert feed(s, 2, [95, 5], 1000, 2000) == []  # neither all busy nor all idle


def test_never_grows_past_max_nor_shrinks_below_min() -> None:
    s = Autoscaler(CONFIG)
    grown = feed(s, 1, [100.0] * 10, 0, 1000)  # cpu list long enough for any count
    assert [d.target for _, d in grown] == [2, 3, 4]
    s = Autoscaler(CONFIG)
    shrunk = feed(s, 4, [0.0], 0, 10_000)
    assert [d.target for _, d in shrunk] == [3, 2, 1]


def test_step_is_clamped_to_the_range() -> None:
    c = AutoscaleConfig(min=2, max=5, step=2, cooldown=0, grow_after=0, shrink_after=0)
    s = Autoscaler(c)
    assert [d.target for _, d in feed(s, 2, [100.0] * 9, 0, 10)] == [4, 5]
    s = Autoscaler(c)
    assert [d.target for _, d in feed(s, 5, [0.0] * 9, 0, 10)] == [3, 2]


def test_counts_set_by_hand_outside_the_range_are_left_alone() -> None:
    s = Autoscaler(CONFIG)
    assert feed(s, 6, [100.0] * 6, 0, 100) == []  # over max, busy: no "growth" to 4
    s = Autoscaler(CONFIG)
    assert feed(s, 0, [0.0], 0, 1000) == []  # under min, idle: nothing to shrink
    s = Autoscaler(CONFIG)
    d = feed(s, 6, [0.0] * 6, 0, 60)
    assert [x.target for _, x in d] == [4]  # idle over max: back into the range


def test_cooldown_separates_decisions_and_a_decision_resets_the_timers() -> None:
    c = AutoscaleConfig(min=1, max=10, cooldown=30, grow_after=10, interval=2)
    s = Autoscaler(c)
    decisions = feed(s, 1, [100.0] * 10, 0, 200)
    times = [t for t, _ in decisions]
    assert times[0] == 10
    # Busy all along: the next decision waits for the cooldown, not just grow_after.
    assert all(b - a >= 30 for a, b in itertools.pairwise(times))
    assert times[1] == 40


def test_a_decision_resets_the_busy_clock_when_grow_after_exceeds_the_cooldown() -> None:
    c = AutoscaleConfig(min=1, max=10, cooldown=5, grow_after=20, interval=2)
    s = Autoscaler(c)
    times = [t for t, _ in feed(s, 1, [100.0] * 10, 0, 100)]
    assert times[:3] == [20, 42, 64]  # busy counted again from the sample after each


def test_a_count_changed_by_someone_else_restarts_the_clocks() -> None:
    s = Autoscaler(CONFIG)
    assert s.decide(0, 2, [95, 95]) is None
    assert s.decide(8, 3, [95, 95, 95]) is None  # an operator's incr
    assert s.decide(10, 3, [95, 95, 95]) is None
    assert s.decide(18, 3, [95, 95, 95]) is not None


def test_a_single_process_reason_and_reset() -> None:
    s = Autoscaler(AutoscaleConfig(max=3, cooldown=100, grow_after=0))
    d = s.decide(0, 1, [100])
    assert d == ScaleDecision(2, "the process at or above 80% CPU for 0.0s: 1 -> 2")
    assert s.decide(1, 2, [100, 100]) is None  # cooldown
    s.reset()
    assert s.decide(2, 2, [100, 100]) is not None
    assert s.config.max == 3
