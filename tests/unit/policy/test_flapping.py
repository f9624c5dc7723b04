"""FlapDetector: circus flapping semantics, with a sliding window."""

from __future__ import annotations

import pytest

from ringleader.policy.flapping import FlapDetector


def test_deaths_spread_wider_than_the_window_are_not_flapping() -> None:
    d = FlapDetector(attempts=2, window=1.0, max_retry=5)
    assert [d.record(t) for t in (0.0, 1.5, 3.0, 4.6)] == ["ok"] * 4
    assert d.rounds == 0


def test_attempts_deaths_within_the_window_flap() -> None:
    d = FlapDetector(attempts=3, window=1.0, max_retry=5)
    assert [d.record(t) for t in (0.0, 0.4, 0.9)] == ["ok", "ok", "flapping"]
    assert d.rounds == 1


def test_the_window_is_inclusive() -> None:
    d = FlapDetector(attempts=2, window=1.0)
    assert [d.record(t) for t in (10.0, 11.0)] == ["ok", "flapping"]


def test_the_window_slides_over_the_last_attempts_deaths() -> None:
    # circus's batches of `attempts` would miss this burst (0 and 5 make a slow batch).
    d = FlapDetector(attempts=2, window=1.0)
    assert [d.record(t) for t in (0.0, 5.0, 5.5)] == ["ok", "ok", "flapping"]


def test_a_round_starts_counting_afresh() -> None:
    d = FlapDetector(attempts=2, window=1.0)
    assert d.record(0.0) == "ok"
    assert d.record(0.1) == "flapping"
    # The first death after the retry does not pair with the deaths before it.
    assert d.record(0.2) == "ok"
    assert d.record(0.3) == "flapping"
    assert d.rounds == 2


def test_max_retry_rounds_then_give_up_and_start_over() -> None:
    d = FlapDetector(attempts=2, window=1.0, max_retry=2)
    verdicts = [d.record(t) for t in (0.0, 0.1, 10.0, 10.1, 20.0, 20.1)]
    assert verdicts == ["ok", "flapping", "ok", "flapping", "ok", "give_up"]
    assert d.rounds == 0  # as circus: the count starts over after giving up


def test_max_retry_zero_never_gives_up() -> None:
    d = FlapDetector(attempts=1, window=1.0, max_retry=0)
    assert {d.record(float(t)) for t in range(1000)} == {"flapping"}
    assert d.rounds == 1000


def test_slow_deaths_reset_the_rounds() -> None:
    d = FlapDetector(attempts=2, window=1.0, max_retry=2)
    assert [d.record(t) for t in (0.0, 0.1)] == ["ok", "flapping"]
    assert [d.record(t) for t in (10.0, 10.1)] == ["ok", "flapping"]
    assert d.rounds == 2
    assert [d.record(t) for t in (20.0, 30.0)] == ["ok", "ok"]
    assert d.rounds == 0
    assert d.record(30.5) == "flapping"  # round 1 again, not a give-up


def test_reset_forgets_deaths_and_rounds() -> None:
    d = FlapDetector(attempts=2, window=1.0, max_retry=1)
    assert [d.record(t) for t in (0.0, 0.1, 0.2)] == ["ok", "flapping", "ok"]
    d.reset()
    assert d.rounds == 0
    assert [d.record(t) for t in (0.3, 0.4)] == ["ok", "flapping"]


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FlapDetector(attempts=0)
