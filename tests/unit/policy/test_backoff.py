from ringleader.policy.backoff import RespawnBackoff


def test_long_lived_process_respawns_at_once() -> None:
    b = RespawnBackoff()
    assert [b.on_exit(uptime=3600) for _ in range(10)] == [0.0] * 10


def test_young_deaths_get_free_retries_then_grow() -> None:
    b = RespawnBackoff(min_uptime=1, free_retries=3, initial=0.1, factor=2, maximum=1.0)
    delays = [b.on_exit(uptime=0.01) for _ in range(8)]
    assert delays == [0.0, 0.0, 0.0, 0.1, 0.2, 0.4, 0.8, 1.0]


def test_a_long_run_resets_the_streak() -> None:
    b = RespawnBackoff(free_retries=0, initial=1, factor=2, maximum=60)
    assert b.on_exit(0.1) == 1
    assert b.on_exit(0.1) == 2
    assert b.on_exit(5.0) == 0
    assert b.on_exit(0.1) == 1


def test_spawn_failures_count_as_young_deaths() -> None:
    b = RespawnBackoff(free_retries=1, initial=0.5, factor=3, maximum=10)
    assert [b.on_spawn_failure() for _ in range(5)] == [0.0, 0.5, 1.5, 4.5, 10]
    b.reset()
    assert b.on_spawn_failure() == 0.0
