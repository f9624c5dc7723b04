"""Health probes against real servers and commands, and the HealthMonitor's bookkeeping
(with stand-in processes and a probe stub: no timing involved)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.features import HealthCheckConfig
from ringleader.core import health
from ringleader.core.health import HealthMonitor, probe
from ringleader.lifecycle.events import EventBus, WatcherChanged
from ringleader.lifecycle.states import ProcessState
from ringleader.proc.command import run_command
from ringleader.testing import EventRecorder, free_port, pid_exists, wait_until
from ringleader.testing import run_async as run

ENV = {"PATH": os.environ.get("PATH", os.defpath)}


def http(url: str, **kw: Any) -> HealthCheckConfig:
    return HealthCheckConfig(kind="http", url=url, **{"timeout": 5.0, **kw})


def command(cmd: str, **kw: Any) -> HealthCheckConfig:
    return HealthCheckConfig(kind="command", command=cmd, **{"timeout": 5.0, **kw})


@asynccontextmanager
async def http_server(statuses: list[int]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers each request with the next status of `statuses` (the last one repeats);
    yields its port and the request heads it received."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        status = statuses[min(len(seen), len(statuses)) - 1]
        writer.write(f"HTTP/1.1 {status} Whatever\r\nContent-Length: 2\r\n"
                     "Connection: close\r\n\r\nok".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, seen
    finally:
        server.close()
        await server.wait_closed()


# -- http -------------------------------------------------------------------------------


def test_http_probe_2xx_healthy_then_5xx_unhealthy() -> None:
    async def main() -> None:
        async with http_server([200, 500]) as (port, seen):
            cfg = http(f"http://127.0.0.1:{port}/health/$(ringleader.wid)?x=$(circus.wid)")
            ok, detail = await probe(cfg, wid=3, env={})
            assert ok, detail
            assert "HTTP 200" in detail
            ok, detail = await probe(cfg, wid=3, env={})
            assert not ok
            assert "HTTP 500" in detail and "\n" not in detail
            first = seen[0].decode()
            assert first.startswith("GET /health/3?x=3 HTTP/1.1\r\n")
            assert f"Host: 127.0.0.1:{port}\r\n" in first

    run(main())


def test_http_probe_redirect_is_healthy_and_garbage_is_not() -> None:
    async def main() -> None:
        async with http_server([302]) as (port, _):
            ok, detail = await probe(http(f"http://127.0.0.1:{port}/"), wid=1, env={})
            assert ok and "HTTP 302" in detail

        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"SSH-2.0-nope\r\n")
            writer.close()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            ok, detail = await probe(http(f"http://127.0.0.1:{port}/"), wid=1, env={})
            assert not ok and "not an HTTP response" in detail
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_http_probe_refused_and_silent_server_time_out() -> None:
    async def main() -> None:
        ok, detail = await probe(http(f"http://127.0.0.1:{free_port()}/"), wid=1, env={})
        assert not ok and "connection refused" in detail

        hung_up = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()  # never answers; the client gives up
            finally:
                writer.close()
                hung_up.set()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            ok, detail = await probe(http(f"http://127.0.0.1:{port}/", timeout=0.3),
                                     wid=1, env={})
            assert not ok and "no answer within 0.3s" in detail
            await hung_up.wait()  # the probe closed its connection
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_http_probe_bad_url() -> None:
    ok, detail = run(probe(http("ftp://example.invalid/"), wid=1, env={}))
    assert not ok and "not an http" in detail


# -- tcp --------------------------------------------------------------------------------


def test_tcp_probe_open_and_closed_port() -> None:
    async def main() -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            cfg = HealthCheckConfig(kind="tcp", port=port, timeout=5)
            ok, detail = await probe(cfg, wid=1, env={})
            assert ok and detail == f"127.0.0.1:{port}: connected"
        ok, detail = await probe(cfg, wid=1, env={})
        assert not ok and "connection refused" in detail

    run(main())


# -- command ----------------------------------------------------------------------------


def test_command_probe_exit_codes_env_and_wid() -> None:
    async def main() -> None:
        ok, detail = await probe(command("sh -c 'exit 0'"), wid=1, env=ENV)
        assert ok and detail == "exit code 0"
        ok, detail = await probe(
            command("sh -c 'echo \"down: $WHY\" >&2; exit 1'"), wid=1, env={**ENV, "WHY": "db"})
        assert not ok and detail == "exit code 1: down: db"
        ok, detail = await probe(command("sh -c 'exit $(ringleader.wid)'"), wid=4, env=ENV)
        assert not ok and detail == "exit code 4"
        ok, detail = await probe(command("no-such-program-xyz"), wid=1, env=ENV)
        assert not ok and "not found" in detail
        ok, detail = await probe(command("sh -c 'unterminated"), wid=1, env=ENV)
        assert not ok and "bad command" in detail

    run(main())


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except FileNotFoundError:
        return None


def test_command_probe_hanging_is_killed_with_its_group_and_reaped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"

    async def main() -> None:
        # The shell and a background grandchild both hang; both must go.
        cfg = command(f"sh -c 'sleep 600 & echo $$ $! > {pidfile}; wait'", timeout=0.5)
        ok, detail = await probe(cfg, wid=1, env=ENV)
        assert not ok and "no result within 0.5s" in detail
        shell, grandchild = map(int, pidfile.read_text().split())
        assert _proc_state(shell) is None  # reaped: not even a zombie is left
        await wait_until(lambda: not pid_exists(grandchild), timeout=5, what="grandchild gone")

    run(main())


def test_run_command_output_is_bounded_and_cancellation_reaps(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        result = await run_command(
            ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo END"],
            env=ENV, timeout=10, limit=1000)
        assert result.ok and result.truncated
        assert len(result.output) == 1000 and result.output.endswith(b"xEND\n")

        task = asyncio.ensure_future(run_command(
            ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 600"], env=ENV, timeout=60))
        await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "",
                         timeout=5, what="command started")
        pid = int(pidfile.read_text())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: _proc_state(pid) is None, timeout=5, what="reaped")

    run(main())


# -- monitor bookkeeping ----------------------------------------------------------------


@dataclass
class FakeProc:
    wid: int
    pid: int | None
    state: ProcessState = ProcessState.RUNNING
    age: float = 100.0
    ready_reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"w.{self.wid}"

    def uptime(self) -> float:
        return self.age

    def mark_ready(self, reason: str) -> bool:
        self.ready_reasons.append(reason)
        if self.state is not ProcessState.STARTING:
            return False
        self.state = ProcessState.RUNNING
        return True


@dataclass
class FakeConfig:
    working_dir: str | None = None
    readiness: str = "warmup"


@dataclass
class FakeTemplate:
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeServices:
    bus: EventBus


class FakeWatcher:
    def __init__(self, procs: list[FakeProc], readiness: str = "warmup") -> None:
        self.name = "w"
        self.processes = {p.wid: p for p in procs}
        self.config = FakeConfig(readiness=readiness)
        self.template = FakeTemplate()
        self._services = FakeServices(EventBus())
        self.restarted: list[tuple[int, str]] = []

    async def restart_process(self, wid: int, reason: str) -> bool:
        self.restarted.append((wid, reason))
        proc = self.processes[wid]
        assert proc.pid is not None
        proc.pid += 1000
        return True


def monitor_with(watcher: FakeWatcher, verdicts: dict[int, bool], clock: Callable[[], float],
                 monkeypatch: pytest.MonkeyPatch, **cfg: Any) -> HealthMonitor:
    async def fake_probe(cfg: HealthCheckConfig, *, wid: int, env: Any,
                         cwd: str | None = None) -> tuple[bool, str]:
        assert env["RINGLEADER_WID"] == str(wid)
        if wid == 99:
            raise RuntimeError("boom")
        return verdicts[wid], "ok" if verdicts[wid] else "it said no"

    monkeypatch.setattr(health, "probe", fake_probe)
    hc = HealthCheckConfig(kind="command", command="x", **{"failures": 2, **cfg})
    return HealthMonitor(watcher, hc, clock=clock)  # type: ignore[arg-type]


def test_monitor_restarts_after_consecutive_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        procs = [FakeProc(1, 101), FakeProc(2, 102), FakeProc(3, None,
                                                               ProcessState.BACKOFF)]
        watcher = FakeWatcher(procs)
        verdicts = {1: False, 2: True}
        monitor = monitor_with(watcher, verdicts, lambda: 1000.0, monkeypatch, failures=3)
        rec = EventRecorder(watcher._services.bus)  # type: ignore[arg-type]
        await monitor.check_once()
        await monitor.check_once()
        verdicts[1] = True  # a pass resets the streak
        await monitor.check_once()
        verdicts[1] = False
        await monitor.check_once()
        await monitor.check_once()
        assert watcher.restarted == []
        await monitor.check_once()
        event = await rec.wait_for(WatcherChanged, lambda e: e.action == "unhealthy")
        assert event.watcher == "w" and "w.1 pid 101" in event.detail
        assert "3 failed health checks" in event.detail and "it said no" in event.detail
        await monitor.stop()  # waits for the restart under way
        assert [wid for wid, _ in watcher.restarted] == [1]
        assert "it said no" in watcher.restarted[0][1]
        # The new pid starts a fresh count.
        await monitor.check_once()
        assert len(watcher.restarted) == 1

    run(main())


def test_monitor_start_period_and_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]

    async def main() -> None:
        young = FakeProc(1, 101, ProcessState.STARTING, age=0.0)
        watcher = FakeWatcher([young])
        verdicts = {1: False}
        monitor = monitor_with(watcher, verdicts, lambda: now[0], monkeypatch,
                               start_period=30.0, failures=1)
        for _ in range(3):
            await monitor.check_once()  # failures of a STARTING process do not count
        assert watcher.restarted == [] and young.state is ProcessState.STARTING
        verdicts[1] = True
        await monitor.check_once()
        assert young.state is ProcessState.RUNNING
        assert young.ready_reasons == ["health check passed"]
        await monitor.check_once()  # only STARTING processes are marked
        assert young.ready_reasons == ["health check passed"]
        verdicts[1] = False
        for _ in range(3):
            await monitor.check_once()  # nor do they count within the start period
        assert watcher.restarted == []
        now[0] += 31
        await monitor.check_once()
        await monitor.stop()
        assert [wid for wid, _ in watcher.restarted] == [1]

    run(main())


def test_monitor_leaves_notify_readiness_alone_and_survives_probe_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        starting = FakeProc(1, 101, ProcessState.STARTING)
        broken = FakeProc(99, 199)
        watcher = FakeWatcher([starting, broken], readiness="notify")
        monitor = monitor_with(watcher, {1: True}, lambda: 0.0, monkeypatch)
        monitor.start()
        await wait_until(lambda: monitor.running, timeout=5)
        await monitor.check_once()
        assert starting.state is ProcessState.STARTING and starting.ready_reasons == []
        assert monitor.running  # the raising probe did not end the monitor
        await monitor.stop()
        assert not monitor.running

    run(main())
