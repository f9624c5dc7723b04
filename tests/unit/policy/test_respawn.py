"""Respawn policies (backoff and flapping) behind one protocol, with a fake clock."""

from __future__ import annotations

import collections

import pytest

from ringleader.config.features import BackoffConfig, FlappingConfig
from ringleader.policy.respawn import (
    BackoffPolicy,
    Decision,
    FlappingPolicy,
    RespawnPolicy,
    make_policy,
)

YOUNG = 0.05  # seconds of life: well under any min_uptime / window used here


def test_make_policy_picks_flapping_when_configured_else_backoff() -> None:
    backoff = BackoffConfig(initial=0.5, factor=3, max=10, min_uptime=2, free_retries=1,
                            max_retries=4)
    b = make_policy(None, backoff)
    assert isinstance(b, BackoffPolicy) and b.max_retries == 4
    assert [b.on_exit(0, 1.9, 1, None).delay for _ in range(3)] == [0.0, 0.5, 1.5]
    f = make_policy(FlappingConfig(attempts=2, window=3, retry_in=9, max_retry=1), backoff)
    assert isinstance(f, FlappingPolicy)
    assert f.on_exit(0, 0.1, 1, None).action == "respawn"
    assert f.on_exit(2.5, 0.1, 1, None) == Decision(
        "flapping", 9.0, "exited 2 times within 3s: retry in 9.0s (round 1 of 1)")


# -- backoff ---------------------------------------------------------------------------


def test_backoff_long_lived_deaths_respawn_at_once() -> None:
    p = BackoffPolicy(max_retries=1)
    for i in range(10):
        assert p.on_exit(i * 100.0, 99.0, 0, None) == Decision("respawn", 0.0, "respawn at once")


def test_backoff_free_retries_then_growing_delays_with_reasons() -> None:
    p = BackoffPolicy(initial=0.1, factor=2, maximum=1.0, min_uptime=1, free_retries=2)
    ds = [p.on_exit(0, YOUNG, 1, None) for _ in range(6)]
    assert [d.action for d in ds] == ["respawn"] * 6
    assert [d.delay for d in ds] == [0.0, 0.0, 0.1, 0.2, 0.4, 0.8]
    assert ds[0].reason == "exited; once in a row within 1s of a start: respawn at once"
    assert ds[3].reason == "exited; 4 times in a row within 1s of a start: respawn in 0.2s"
    assert p.streak == 6


def test_backoff_a_long_life_resets_the_streak() -> None:
    p = BackoffPolicy(free_retries=0, initial=1, factor=2, maximum=60, max_retries=3)
    assert [p.on_exit(0, YOUNG, 1, None).delay for _ in range(3)] == [1, 2, 4]
    assert p.on_exit(0, 5.0, 1, None).delay == 0
    assert p.streak == 0
    assert p.on_exit(0, YOUNG, 1, None).delay == 1


def test_backoff_gives_up_after_max_retries_and_stays_given_up_until_reset() -> None:
    p = BackoffPolicy(free_retries=1, initial=0.5, max_retries=3)
    ds = [p.on_exit(0, YOUNG, None, 9) for _ in range(4)]
    assert [d.action for d in ds] == ["respawn", "respawn", "respawn", "give_up"]
    assert ds[-1] == Decision("give_up", 0.0, "exited; 4 times in a row within 1s of a "
                                              "start: giving up after 3 retries")
    assert p.on_exit(0, YOUNG, None, 9).action == "give_up"
    p.reset()  # an explicit start
    assert p.on_exit(0, YOUNG, None, 9) == Decision(
        "respawn", 0.0, "exited; once in a row within 1s of a start: respawn at once")


def test_backoff_max_retries_zero_never_gives_up() -> None:
    p = BackoffPolicy(max_retries=0)
    assert {p.on_exit(0, YOUNG, 1, None).action for _ in range(10_000)} == {"respawn"}


def test_backoff_spawn_failures_count_as_young_deaths() -> None:
    p = BackoffPolicy(free_retries=1, initial=0.5, factor=3, maximum=10, max_retries=5)
    ds = [p.on_spawn_failure(0) for _ in range(6)]
    assert [d.delay for d in ds] == [0.0, 0.5, 1.5, 4.5, 10, 0.0]
    assert ds[1].reason.startswith("failed to spawn; 2 times in a row")
    assert ds[-1].action == "give_up"
    p.reset()
    assert p.on_spawn_failure(0).action == "respawn"


# -- flapping --------------------------------------------------------------------------


def test_flapping_deaths_that_do_not_flap_respawn_at_once() -> None:
    p = FlappingPolicy(attempts=2, window=1.0, retry_in=7, max_retry=5)
    for t in range(0, 100, 2):
        assert p.on_exit(float(t), 1.9, 0, None) == Decision("respawn", 0.0, "respawn at once")


def test_flapping_rounds_then_give_up() -> None:
    p = FlappingPolicy(attempts=3, window=1.0, retry_in=7, max_retry=2)
    now, seen = 0.0, []
    for _ in range(9):
        d = p.on_exit(now, YOUNG, 1, None)
        seen.append(d)
        now += d.delay + 0.1
    assert [d.action for d in seen] == ["respawn", "respawn", "flapping"] * 2 + [
        "respawn", "respawn", "give_up"]
    assert seen[2].reason == "exited 3 times within 1s: retry in 7.0s (round 1 of 2)"
    assert seen[5].delay == 7.0
    assert seen[5].reason.endswith("(round 2 of 2)")
    assert seen[8] == Decision("give_up", 0.0,
                               "exited 3 times within 1s after 2 flapping rounds: giving up")


def test_flapping_without_max_retry_never_gives_up() -> None:
    p = FlappingPolicy(attempts=1, window=1.0, retry_in=3, max_retry=0)
    ds = [p.on_exit(i * 3.0, YOUNG, 1, None) for i in range(50)]
    assert {d.action for d in ds} == {"flapping"}
    assert ds[-1].reason == "exited once within 1s: retry in 3.0s (round 50)"


def test_flapping_spawn_failures_count_and_reset_revives() -> None:
    p = FlappingPolicy(attempts=2, window=1.0, retry_in=7, max_retry=1)
    assert p.on_spawn_failure(0.0).action == "respawn"
    d = p.on_spawn_failure(0.0)
    assert d.action == "flapping" and d.reason.startswith("failed to spawn 2 times")
    p.reset()
    assert [p.on_spawn_failure(8.0).action, p.on_spawn_failure(8.0).action] == [
        "respawn", "flapping"]  # round 1 again: the reset forgot the rounds


# -- a crash loop costs a bounded number of spawns -------------------------------------


def crash_loop(policy: RespawnPolicy, hours: float, life: float = YOUNG,
               spawn_fails: bool = False) -> list[float]:
    """Spawn times of a command that always dies `life` seconds after its start (or that
    cannot be spawned), as the Process would carry the decisions out."""
    now, spawns = 0.0, []
    while now < hours * 3600:
        spawns.append(now)
        if spawn_fails:
            d = policy.on_spawn_failure(now)
        else:
            now += life
            d = policy.on_exit(now, life, 1, None)
        if d.action == "give_up":
            break
        assert d.delay > 0 or d.action == "respawn"
        now += d.delay
    return spawns


def per_hour(spawns: list[float]) -> list[int]:
    counts = collections.Counter(int(t // 3600) for t in spawns)
    return [counts[h] for h in range(max(counts) + 1)]


def test_a_crash_loop_of_days_keeps_the_maximum_delay() -> None:
    # Regression: 2.0 ** n overflowed a float after ~1000 young deaths (8 hours at 30 s).
    p = BackoffPolicy()
    delays = [p.on_exit(0, YOUNG, 1, None).delay for _ in range(5000)]
    assert delays[-1] == 30.0
    zero = BackoffPolicy(initial=0, free_retries=0)
    assert {zero.on_exit(0, YOUNG, 1, None).delay for _ in range(5000)} == {0.0}


@pytest.mark.parametrize("spawn_fails", [False, True])
def test_a_crash_loop_under_default_backoff_spawns_about_once_per_max_delay(
        spawn_fails: bool) -> None:
    config = BackoffConfig()
    hours = per_hour(crash_loop(make_policy(None, config), hours=12, spawn_fails=spawn_fails))
    assert len(hours) == 12  # never gives up by default
    # A hot loop would be 3600 / 0.05 = 72000 spawns an hour.
    bound = 3600 / config.max + config.free_retries + 12  # + the ramp up to `max`
    assert max(hours) <= bound
    assert hours[-1] <= 3600 / config.max + 1


def test_a_crash_loop_under_default_flapping_is_given_up_soon() -> None:
    spawns = crash_loop(make_policy(FlappingConfig(), BackoffConfig()), hours=6)
    config = FlappingConfig()
    assert len(spawns) == config.attempts * (config.max_retry + 1)
    assert spawns[-1] < 60


@pytest.mark.parametrize("spawn_fails", [False, True])
def test_a_crash_loop_flapping_forever_is_bounded_by_retry_in(spawn_fails: bool) -> None:
    config = FlappingConfig(max_retry=0)
    hours = per_hour(crash_loop(make_policy(config, BackoffConfig()), hours=6,
                                spawn_fails=spawn_fails))
    assert len(hours) == 6
    assert max(hours) <= config.attempts * (3600 / config.retry_in + 1)


def test_a_given_up_process_costs_nothing_more() -> None:
    spawns = crash_loop(make_policy(None, BackoffConfig(max_retries=10)), hours=24)
    assert len(spawns) == 11  # the first spawn and 10 retries


# -- failed starts (never ready) ---------------------------------------------------------


@pytest.mark.parametrize("policy", [
    BackoffPolicy(free_retries=0, max_retries=2, initial=0.1),
    FlappingPolicy(attempts=3, window=100, retry_in=5, max_retry=1),
])
def test_a_start_that_never_became_ready_counts_as_a_young_death(
        policy: RespawnPolicy) -> None:
    """Whatever the process's uptime (it waited `ready_timeout`), a failed start feeds the
    streak or the flapping window: such a slot ends in backoff, flapping or given up,
    never a restart loop at full pace."""
    decisions = [policy.on_spawn_failure(float(i), "failed to start") for i in range(6)]
    assert all("failed to start" in d.reason for d in decisions if d.reason != "respawn at once")
    assert decisions[-1].action == "give_up"
    assert any(d.action != "respawn" or d.delay > 0 for d in decisions[:-1])
