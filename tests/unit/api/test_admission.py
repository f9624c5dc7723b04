"""Pool: a limit per listener, a reserve for the owner, a budget of strangers per peer."""

from __future__ import annotations

import pytest

from ringleader.api.admission import Pool, Ticket


def admitted(ticket: Ticket | None) -> Ticket:
    assert ticket is not None
    return ticket


def test_limit_then_busy_then_room_again() -> None:
    pool = Pool(2)
    first = admitted(pool.admit("a", authenticated=True))
    admitted(pool.admit("b", authenticated=True))
    busy = admitted(pool.admit("c", authenticated=True))
    assert busy.busy and pool.size == 2
    pool.release(busy)
    pool.release(first)
    pool.release(first)  # idempotent
    assert pool.size == 1
    assert not admitted(pool.admit("c", authenticated=True)).busy


def test_the_reserve_is_for_the_owner_only() -> None:
    pool = Pool(1, reserve=2)
    admitted(pool.admit("uid:2000", authenticated=True))
    assert admitted(pool.admit("uid:2000", authenticated=True)).busy
    owner = [admitted(pool.admit("uid:0", authenticated=True, owner=True)) for _ in range(3)]
    assert [t.place for t in owner] == ["reserve", "reserve", "none"]
    assert pool.size == 3


def test_strangers_have_a_budget_per_peer() -> None:
    pool = Pool(100, per_peer=2)
    strangers = [pool.admit("10.0.0.1", authenticated=False) for _ in range(3)]
    assert strangers[2] is None  # over the budget: closed without a word
    assert pool.unauthenticated("10.0.0.1") == 2
    assert pool.admit("10.0.0.2", authenticated=False) is not None  # another address
    assert pool.admit("10.0.0.1", authenticated=True) is not None  # (unix: by credentials)
    pool.authenticate(admitted(strangers[0]))  # its first request got in
    pool.authenticate(admitted(strangers[0]))
    assert pool.unauthenticated("10.0.0.1") == 1
    assert pool.admit("10.0.0.1", authenticated=False) is not None
    assert pool.size == 5


def test_a_busy_stranger_still_counts_against_its_peer_while_it_is_refused() -> None:
    pool = Pool(1, per_peer=2)
    admitted(pool.admit("10.0.0.9", authenticated=True))
    refused = [pool.admit("10.0.0.1", authenticated=False) for _ in range(3)]
    assert [t.busy if t else None for t in refused] == [True, True, None]
    for ticket in refused[:2]:
        pool.release(admitted(ticket))
    assert pool.unauthenticated("10.0.0.1") == 0 and pool.size == 1


def test_released_peers_are_forgotten() -> None:
    pool = Pool(10)
    tickets = [admitted(pool.admit(f"10.0.0.{i}", authenticated=False)) for i in range(5)]
    for ticket in tickets:
        pool.release(ticket)
    assert pool._unauthenticated == {}  # bounded by the live connections, not the history


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1, "reserve": -1},
                                    {"limit": 1, "per_peer": 0}])
def test_nonsense_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Pool(**kwargs)
