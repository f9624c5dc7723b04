"""Runtime option changes and rolling reloads, with real processes."""

from __future__ import annotations

import signal

import pytest

from ringleader.core.arbiter import Arbiter
from ringleader.errors import ConfigError
from ringleader.testing import pid_exists
from ringleader.testing import run_async as run


def sleeper(**options: object) -> dict[str, object]:
    return {"name": "s", "cmd": "sleep 600", "stdout_stream": {"kind": "null"}, **options}


def test_live_options_keep_the_processes() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=2)]) as arbiter:
            before = arbiter.pids("s")
            new = await arbiter.set_options("s", {"graceful_timeout": "3", "stop_signal": "INT"})
            assert new.graceful_timeout == 3 and new.stop_signal == signal.SIGINT
            assert arbiter.pids("s") == before
            options = arbiter.options("s")
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


def test_reload_replaces_every_process_keeping_the_count() -> None:
    async def main() -> None:
        async with Arbiter([sleeper(numprocesses=3)]) as arbiter:
            before = arbiter.pids("s")
            await arbiter.reload("s")
            after = arbiter.pids("s")
            assert len(after) == 3 and not set(before) & set(after)

    run(main())
