"""Runtime option changes and rolling reloads, with real processes."""

from __future__ import annotations

import signal

import pytest

from ringleader.config.features import BackoffConfig
from ringleader.config.model import StreamConfig, WatcherConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import ConfigError, ReloadFailed
from ringleader.lifecycle.events import ProcessStateChanged
from ringleader.testing import EventRecorder, pid_exists
from ringleader.testing import run_async as run


def sleeper(**options: object) -> WatcherConfig:
    # A short minimum uptime: reloads wait that long for new processes to prove alive.
    options.setdefault("backoff", BackoffConfig(min_uptime=0.2))
    return WatcherConfig(name="s", cmd="sleep 600", stdout_stream=StreamConfig(kind="null"),
                         **options)  # type: ignore[arg-type]


def test_live_options_keep_the_processes() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=2)]) as arbiter:
            before = arbiter.pids("s")
            new = await arbiter.set_options("s", {"graceful_timeout": "3", "stop_signal": "INT"})
            assert new.options["graceful_timeout"] == 3
            assert new.options["stop_signal"] == signal.SIGINT
            assert arbiter.pids("s") == before
            options = arbiter.options("s").options
            assert options["graceful_timeout"] == 3 and options["numprocesses"] == 2

    run(main())


def test_numprocesses_option_scales() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=1)]) as arbiter:
            await arbiter.set_options("s", {"numprocesses": "3"})
            assert len(arbiter.pids("s")) == 3

    run(main())


def test_changing_the_command_replaces_processes_one_by_one() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=3)]) as arbiter:
            before = arbiter.pids("s")
            await arbiter.set_options("s", {"cmd": "sleep 601"})
            after = arbiter.pids("s")
            assert len(after) == 3 and not set(before) & set(after)
            assert not any(pid_exists(p) for p in before)
            with open(f"/proc/{after[0]}/cmdline", "rb") as f:
                assert f.read() == b"sleep\x00601\x00"

    run(main())


def test_invalid_option_changes_nothing() -> None:
    async def main() -> None:
        async with Arbiter([sleeper()]) as arbiter:
            before = arbiter.pids("s")
            with pytest.raises(ConfigError) as info:
                await arbiter.set_options("s", {"numprocesses": "-1", "nonsense": 1})
            assert "numprocesses" in str(info.value) and "nonsense" in str(info.value)
            assert arbiter.pids("s") == before
            assert arbiter.watcher("s").config.numprocesses == 1

    run(main())


def test_unstartable_changes_are_refused_before_anything_changes() -> None:
    """The validator refuses what the spawn cannot take; and the engine's own belt (a
    config that skipped validation) fails before the first change, also for a reload."""
    from msgspec.structs import replace

    from ringleader.config.model import Config

    async def main() -> None:
        async with Arbiter([sleeper(), replace(sleeper(), name="t")]) as arbiter:
            before = {n: arbiter.pids(n) for n in ("s", "t")}
            for change in ({"cmd": 'sleep "600'}, {"uid": 1 << 32}, {"env": {"A": "\0"}}):
                with pytest.raises(ConfigError):
                    await arbiter.set_options("s", change)
            unchecked = Config(watchers=[replace(sleeper(), cmd='sleep "601'),
                                         replace(sleeper(), name="new")])
            with pytest.raises(ConfigError, match="No closing quotation"):
                await arbiter.reload_config(unchecked)  # would remove t, add new, change s
            assert {n: arbiter.pids(n) for n in ("s", "t")} == before
            assert [w.name for w in arbiter.watchers] == ["s", "t"]
            assert arbiter.watcher("s").config.cmd == "sleep 600"

    run(main())


def test_reload_replaces_every_process_keeping_the_count() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=3)]) as arbiter:
            before = arbiter.pids("s")
            await arbiter.reload("s")
            after = arbiter.pids("s")
            assert len(after) == 3 and not set(before) & set(after)

    run(main())


def test_reload_never_has_fewer_running_processes() -> None:
    async def main() -> None:
        arbiter = Arbiter([sleeper(numprocesses=3, warmup_delay=0.05)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            before = set(arbiter.pids("s"))
            mark = len(rec.events)
            await arbiter.reload("s")
            after = set(arbiter.pids("s"))
            assert len(after) == 3 and not before & after
            # Replay the transitions: the count of running processes never fell below 3.
            running = 3
            lowest = running
            for event in rec.events[mark:]:
                if isinstance(event, ProcessStateChanged):
                    running += (event.new == "running") - (event.old == "running")
                    lowest = min(lowest, running)
            assert lowest >= 3

    run(main())


def test_a_reload_whose_new_processes_fail_keeps_the_old_ones() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=2)]) as arbiter:
            before = arbiter.pids("s")
            with pytest.raises(ReloadFailed):
                await arbiter.set_options("s", {"cmd": "false"})
            assert arbiter.pids("s") == before
            assert all(pid_exists(p) for p in before)
            assert arbiter.watcher("s").config.cmd == "sleep 600"

    run(main())
