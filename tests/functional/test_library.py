"""The library API: the engine in a background thread of the caller's process."""

from __future__ import annotations

import signal

import pytest

from ringleader import get_arbiter
from ringleader.errors import ConfigError, NotFound
from ringleader.testing import pid_exists, wait_until_sync


def test_background_arbiter_lifecycle() -> None:
    arbiter = get_arbiter([{"cmd": "sleep 600", "numprocesses": 3, "name": "worker",
                            "stdout_stream": {"kind": "null"}}])
    arbiter.start()
    try:
        pids = arbiter.pids("worker")
        assert len(pids) == 3 and all(pid_exists(p) for p in pids)
        assert arbiter.incr("worker") == 4
        assert arbiter.decr("worker", 2) == 2
        statuses = arbiter.statuses()
        assert [p["state"] for p in statuses["worker"]["processes"]] == ["running"] * 2
        assert arbiter.signal("worker", signal.SIGKILL, wid=1) == 1
        # The killed one is respawned in the same slot.
        wait_until_sync(lambda: arbiter.statuses()["worker"]["processes"][0]["restarts"] == 1,
                        what="respawn")
        before = set(arbiter.pids("worker"))
        arbiter.restart("worker")
        assert not before & set(arbiter.pids("worker"))
        with pytest.raises(NotFound):
            arbiter.incr("nope")
        name = arbiter.add_watcher({"name": "extra", "cmd": "sleep 601"})
        assert name == "extra" and len(arbiter.pids("extra")) == 1
        final = arbiter.pids()
    finally:
        arbiter.stop()
    assert not any(pid_exists(p) for p in final)


def test_context_manager_and_derived_name() -> None:
    with get_arbiter([{"cmd": "sleep 600", "stdout_stream": {"kind": "null"}}]) as arbiter:
        (name,) = arbiter.statuses()
        assert len(arbiter.pids(name)) == 1
        pid = arbiter.pids(name)[0]
    assert not pid_exists(pid)


def test_bad_watcher_dict_raises_config_error_in_the_caller() -> None:
    with pytest.raises(ConfigError) as info:
        get_arbiter([{"cmd": "sleep 1", "numprocesses": "many"}])
    assert "numprocesses" in str(info.value)
