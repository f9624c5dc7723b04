"""supervisord's startsecs/startretries/autorestart, as pure decisions."""

from __future__ import annotations

import signal

from ringleader.policy.startup import StartRetries, wants_respawn


def test_failed_starts_wait_one_more_second_each_then_give_up() -> None:
    policy = StartRetries(3)
    decisions = [policy.on_failed_start("exited") for _ in range(4)]
    assert [(d.action, d.delay) for d in decisions] == [
        ("respawn", 1.0), ("respawn", 2.0), ("respawn", 3.0), ("give_up", 0.0)]
    assert decisions[0].reason == "exited: retry 1 of 3 in 1s"
    assert decisions[-1].reason == "exited: giving up after 3 retries"


def test_no_retries_gives_up_at_the_first_failure() -> None:
    assert StartRetries(0).on_failed_start("exited").action == "give_up"


def test_reset_starts_the_count_over() -> None:
    policy = StartRetries(1)
    policy.on_failed_start("exited")
    policy.reset()
    assert policy.on_failed_start("exited").action == "respawn"


def test_wants_respawn_as_autorestart() -> None:
    assert wants_respawn(True, [0], 0, None)
    assert not wants_respawn(False, [0], 1, None)
    assert not wants_respawn("unexpected", [0, 2], 2, None)
    assert wants_respawn("unexpected", [0, 2], 1, None)
    assert wants_respawn("unexpected", [0], None, int(signal.SIGKILL))  # a signal: unexpected
