"""HookRunner with real Python hooks (imported by dotted path) and real shell hooks."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hookfuncs
import pytest

from ringleader.config.features import HookConfig
from ringleader.config.model import WatcherConfig
from ringleader.features.hooks import HookContext, HookRunner, watcher_context
from ringleader.testing import pid_exists, wait_until
from ringleader.testing import run_async as run

CONTEXT: dict[str, object] = {"pids": (11, 12), "numprocesses": 2, "env": {"APP": "x"}}


@pytest.fixture(autouse=True)
def fresh_calls() -> Iterator[None]:
    hookfuncs.CALLS.clear()
    hookfuncs.RELEASE.clear()
    hookfuncs.ENTERED.clear()
    yield
    hookfuncs.RELEASE.set()  # never leave a hanging hook thread behind


def py(target: str, **kw: Any) -> HookConfig:
    return HookConfig(target=f"hookfuncs.{target}", **kw)


def sh(target: str, **kw: Any) -> HookConfig:
    return HookConfig(target=target, kind="shell", **kw)


def runner(**hooks: HookConfig) -> HookRunner:
    return HookRunner("web", hooks)


# -- python -----------------------------------------------------------------------------


def test_sync_hook_gets_circus_arguments_in_a_worker_thread() -> None:
    async def main() -> None:
        r = runner(after_spawn=py("sync_ok"), before_signal=py("sync_ok"),
                   after_reap=py("sync_ok"))
        assert await r.run("after_spawn", {**CONTEXT, "pid": 123})
        assert await r.run("before_signal", {**CONTEXT, "pid": 123, "signum": 15})
        assert await r.run("after_reap", {**CONTEXT, "pid": 123, "exit_code": 0})
        assert await r.run("before_start", CONTEXT)  # not configured: go on
        spawn, sig, reap = hookfuncs.CALLS
        facade = spawn["watcher"]
        assert isinstance(facade, HookContext)
        assert (facade.name, facade.pids, facade.numprocesses) == ("web", (11, 12), 2)
        assert facade.env["APP"] == "x"
        with pytest.raises(TypeError):
            facade.env["APP"] = "y"  # type: ignore[index]
        assert spawn["arbiter"] is None and spawn["hook_name"] == "after_spawn"
        assert spawn["pid"] == 123 and "pids" not in spawn
        assert spawn["thread"] != threading.current_thread().name
        assert (sig["pid"], sig["signum"]) == (123, 15)
        assert reap["process_pid"] == 123 and reap["exit_code"] == 0
        assert reap["process_status"] is None and isinstance(reap["time"], float)

    run(main())


def test_async_hooks_none_result_and_callable_objects() -> None:
    async def main() -> None:
        r = runner(before_start=py("async_ok"), before_spawn=py("returns_none"),
                   after_start=HookConfig(target="hookfuncs.checker"))
        assert await r.run("before_start", CONTEXT)
        assert await r.run("before_spawn", CONTEXT)
        assert await r.run("after_start", CONTEXT)
        assert [c["hook_name"] for c in hookfuncs.CALLS] == [
            "before_start", "before_spawn", "after_start"]
        assert hookfuncs.CALLS[0]["async"] and hookfuncs.CALLS[2]["callable_object"]

    run(main())


def test_failures_abort_only_before_hooks_with_abort_on_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        r = runner(before_start=py("raising"), before_spawn=py("returns_false"),
                   before_signal=py("raising", abort_on_failure=False),
                   after_start=py("raising"), before_stop=py("returns_false"),
                   after_spawn=py("exits"))
        assert not await r.run("before_start", CONTEXT)
        assert not await r.run("before_spawn", CONTEXT)
        assert await r.run("before_signal", CONTEXT)
        assert await r.run("after_start", CONTEXT)  # after_* never abort
        assert await r.run("before_stop", CONTEXT)  # a stop cannot be refused
        assert await r.run("after_spawn", CONTEXT)  # SystemExit stays in its thread

    with caplog.at_level(logging.WARNING, logger="ringleader.hooks"):
        run(main())
    by_level = [(rec.levelname, rec.getMessage()) for rec in caplog.records]
    assert by_level[0] == ("ERROR", "hook before_start of watcher web failed: "
                           "hookfuncs.raising raised ValueError: redis is not up "
                           "(the start is cancelled)")
    assert by_level[1] == ("ERROR", "hook before_spawn of watcher web failed: "
                           "hookfuncs.returns_false returned False (the spawn is cancelled)")
    assert [lvl for lvl, _ in by_level[2:]] == ["WARNING"] * 4
    assert "SystemExit: 3" in by_level[5][1]


def test_hanging_sync_hook_is_abandoned_after_its_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        r = runner(before_start=py("hangs", timeout=0.3),
                   before_spawn=py("hangs_async", timeout=0.3))
        assert not await r.run("before_start", CONTEXT)
        assert hookfuncs.ENTERED.is_set()
        # The loop was never blocked: the async one is cancelled on time as well.
        assert not await r.run("before_spawn", CONTEXT)

    with caplog.at_level(logging.WARNING, logger="ringleader.hooks"):
        run(main())
    messages = [rec.getMessage() for rec in caplog.records]
    assert "did not return within 0.3s (abandoned; its thread may linger)" in messages[0]
    assert "did not return within 0.3s (cancelled)" in messages[1]
    lingering = [t for t in threading.enumerate() if t.name.startswith("hook before_start")]
    assert lingering and all(t.daemon for t in lingering)
    hookfuncs.RELEASE.set()
    for t in lingering:
        t.join(10)
        assert not t.is_alive()


def test_import_errors_name_the_path(caplog: pytest.LogCaptureFixture) -> None:
    r = runner(before_start=HookConfig(target="no_such_module_xyz.func"),
               before_spawn=py("missing_function"),
               before_signal=py("NOT_CALLABLE"),
               after_start=HookConfig(target="justaname"))
    problems = r.check()
    assert problems == [
        "hook before_start of watcher web: cannot import 'no_such_module_xyz.func': no "
        "module 'no_such_module_xyz' found",
        "hook before_spawn of watcher web: cannot import 'hookfuncs.missing_function': "
        "module 'hookfuncs' has no attribute 'missing_function'",
        "hook before_signal of watcher web: 'hookfuncs.NOT_CALLABLE' is not callable",
        "hook after_start of watcher web: 'justaname' is not a dotted path to a callable "
        "(module.function)",
    ]
    with caplog.at_level(logging.WARNING, logger="ringleader.hooks"):
        assert not run(r.run("before_start", CONTEXT))
    assert "no_such_module_xyz.func" in caplog.records[0].getMessage()


def test_broken_module_is_reported_not_skipped(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "brokenhooks_rl.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "colonhooks_rl.py").write_text("def f(**kw):\n    return kw['hook_name']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r = HookRunner("web", {"before_start": HookConfig(target="brokenhooks_rl.f"),
                           "after_start": HookConfig(target="colonhooks_rl:f")})
    [problem] = r.check()
    assert "cannot import 'brokenhooks_rl.f'" in problem
    assert "No module named 'no_such_dependency_xyz'" in problem
    assert run(r.run("after_start", CONTEXT))


def test_extended_stats() -> None:
    async def main() -> None:
        ctx = {**CONTEXT, "pid": 5, "stats": {"cpu": 1.0}}
        assert await runner().extended_stats(ctx) is None
        in_place = runner(extended_stats=py("stats_in_place"))
        assert await in_place.extended_stats(ctx) == {"cpu": 1.0, "queue_depth": 7}
        assert ctx["stats"] == {"cpu": 1.0}  # the caller's dict is left alone
        returned = runner(extended_stats=py("stats_returned"))
        assert await returned.extended_stats(ctx) == {"requests": 42}
        failing = runner(extended_stats=py("raising"))
        assert await failing.extended_stats(ctx) is None
        shell = runner(extended_stats=sh('echo "{\\"pid\\": $RINGLEADER_PID}"'))
        assert await shell.extended_stats(ctx) == {"pid": 5}
        not_json = runner(extended_stats=sh("echo hello"))
        assert await not_json.extended_stats(ctx) is None

    run(main())


# -- shell ------------------------------------------------------------------------------


def test_shell_hook_gets_the_context_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "env"

    async def main() -> None:
        r = runner(before_signal=sh(f"env > {shlex.quote(str(out))}"))
        ctx = watcher_context(_FakeWatcher(), env={"APP": "x"}, pid=321, signum=15,
                              exit_code=None)
        assert await r.run("before_signal", ctx)

    run(main())
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert env["RINGLEADER_HOOK"] == "before_signal"
    assert env["RINGLEADER_WATCHER"] == "web"
    assert env["RINGLEADER_PID"] == "321"
    assert env["RINGLEADER_SIGNAL"] == "15" and env["RINGLEADER_SIGNAL_NAME"] == "SIGTERM"
    assert env["RINGLEADER_PIDS"] == "7 8" and env["RINGLEADER_NUMPROCESSES"] == "2"
    assert "RINGLEADER_EXIT_CODE" not in env  # None: not set
    assert env["APP"] == "x" and env["PATH"] == os.environ["PATH"]


def test_shell_hook_exit_code_and_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        r = runner(after_reap=sh("echo reaped $RINGLEADER_EXIT_CODE; exit 0"),
                   before_start=sh("echo 'db is down' >&2; exit 3"))
        assert await r.run("after_reap", {**CONTEXT, "pid": 9, "exit_code": 4})
        assert not await r.run("before_start", CONTEXT)

    with caplog.at_level(logging.WARNING, logger="ringleader.hooks"):
        run(main())
    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert record.getMessage() == ("hook before_start of watcher web failed: \"echo 'db is "
                                   "down' >&2; exit 3\" exited with code 3; output:\n"
                                   "db is down (the start is cancelled)")


def test_shell_hook_timeout_kills_its_process_group(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    pids = tmp_path / "pids"

    async def main() -> None:
        r = runner(before_spawn=sh(f"sleep 600 & echo $$ $! > {pids}; wait",
                                   timeout=0.5, abort_on_failure=False))
        assert await r.run("before_spawn", CONTEXT)  # failed, but does not abort
        shell, grandchild = map(int, pids.read_text().split())
        assert not os.path.exists(f"/proc/{shell}")  # reaped, not a zombie
        await wait_until(lambda: not pid_exists(grandchild), timeout=5, what="group killed")

    with caplog.at_level(logging.WARNING, logger="ringleader.hooks"):
        run(main())
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert "did not end within 0.5s (killed)" in record.getMessage()


def test_shell_hook_killed_by_a_signal_is_a_failure() -> None:
    r = runner(before_start=sh(f"kill -{int(signal.SIGKILL)} $$"))
    assert not run(r.run("before_start", CONTEXT))


def test_a_cancelled_hook_leaves_no_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        r = runner(before_start=sh(f"echo $$ > {pidfile}; exec sleep 600"))
        task = asyncio.ensure_future(r.run("before_start", CONTEXT))
        await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "",
                         timeout=5, what="hook started")
        pid = int(pidfile.read_text())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=5, what="reaped")

    run(main())


class _FakeWatcher:
    name = "web"
    numprocesses = 2
    config = WatcherConfig(name="web", cmd="x", extra={"team": "ops"})

    def pids(self) -> list[int]:
        return [7, 8]
