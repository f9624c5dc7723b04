"""Health probes against real servers and commands."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ringleader.config.features import HealthCheckConfig
from ringleader.features.health.probes import probe
from ringleader.testing import free_port, pid_exists, wait_until
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
