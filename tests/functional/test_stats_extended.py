"""Stats beyond psutil's, through the Arbiter with real processes: a watcher's cgroup
counters and what its extended_stats hook returns, in `stats` and in the API's shape."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hookfuncs
import msgspec
import pytest

from ringleader.api.schema import StatsResponse
from ringleader.cli import format as fmt
from ringleader.engine.arbiter import Arbiter
from ringleader.testing import run_async as run

NULL = {"kind": "null"}


def watcher(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": "sleep 600", "stdout_stream": NULL, "stderr_stream": NULL,
            **options}


def _cgroups_usable() -> str | None:
    if os.geteuid() != 0:
        return "cgroups need root"
    try:
        from ringleader.features.cgroups.discovery import detect
    except ImportError as exc:
        return str(exc)
    return None if "memory" in detect() else f"no memory controller: {detect()}"


cgroups = pytest.mark.skipif(_cgroups_usable() is not None, reason=str(_cgroups_usable()))


@pytest.fixture(autouse=True)
def fresh_calls() -> Iterator[None]:
    hookfuncs.CALLS.clear()
    yield
    hookfuncs.CALLS.clear()


def by_name(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in stats["watchers"]}


def check_api_shape(stats: dict[str, Any]) -> None:
    """What `ringleader stats` (and --json) gets: the API's type, and the table."""
    response = msgspec.convert(stats, StatsResponse)
    assert msgspec.json.decode(msgspec.json.encode(response))["watchers"]
    assert fmt.stats(msgspec.to_builtins(response))


@cgroups
def test_stats_show_the_cgroup_counters() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("boxed", numprocesses=2, cgroup={"parent": "ringleader-test"}),
                           watcher("free")])
        async with arbiter:
            assert arbiter.watcher("boxed").features.cgroup is not None
            stats = msgspec.to_builtins(await arbiter.stats())
            boxed, free = by_name(stats)["boxed"], by_name(stats)["free"]
            counters = boxed["cgroup"]
            assert counters is not None
            assert counters["memory_current"] is not None and counters["memory_current"] > 0
            assert counters["pids_current"] == len(arbiter.pids("boxed")) == 2
            assert counters["processes"] == 2
            assert free["cgroup"] is None and free["extended"] is None
            only = msgspec.to_builtins(await arbiter.stats("boxed"))
            assert [w["name"] for w in only["watchers"]] == ["boxed"]
            assert only["watchers"][0]["cgroup"]["pids_current"] == 2
            check_api_shape(stats)

    run(main())


def test_stats_show_what_the_extended_stats_hook_returns() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("q", numprocesses=2,
                                   hooks={"extended_stats": "hookfuncs.queue_stats"}),
                           watcher("plain")])
        async with arbiter:
            stats = msgspec.to_builtins(await arbiter.stats())
            q, plain = by_name(stats)["q"], by_name(stats)["plain"]
            assert q["extended"] == {"queue": 3}
            assert plain["extended"] is None and plain["cgroup"] is None
            (call,) = hookfuncs.CALLS
            assert call["hook_name"] == "extended_stats"
            assert call["watcher"].name == "q"
            assert sorted(call["watcher"].pids) == sorted(arbiter.pids("q"))
            # The hook saw that watcher's own stats (a copy).
            assert call["stats"]["name"] == "q"
            assert sorted(p["pid"] for p in call["stats"]["processes"]) == sorted(
                arbiter.pids("q"))
            check_api_shape(stats)

    run(main())
