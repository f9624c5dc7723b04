"""Health probes: one check of one process, by http, tcp or command, bounded by its timeout.

Everything runs on the controller's event loop without blocking it: the HTTP probe is a
minimal HTTP/1.1 GET over asyncio streams, and commands run through ``proc.command``.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Mapping
from urllib.parse import urlsplit

from ringleader.config.features import HealthCheckConfig
from ringleader.config.substitute import expand
from ringleader.proc.command import one_line, run_command

log = logging.getLogger("ringleader.health")


async def probe(cfg: HealthCheckConfig, *, wid: int, env: Mapping[str, str],
                cwd: str | None = None) -> tuple[bool, str]:
    """One probe, bounded by `cfg.timeout`. Returns (healthy, one-line detail); never
    raises (but for cancellation)."""
    try:
        if cfg.kind == "http":
            return await _probe_http(cfg, wid, env)
        if cfg.kind == "tcp":
            return await _probe_tcp(cfg)
        return await _probe_command(cfg, wid, env, cwd)
    except Exception as exc:  # a probe must never take the monitor down
        log.debug("health probe error", exc_info=True)
        return False, one_line(f"probe error: {type(exc).__name__}: {exc}")


def _connect_error(exc: BaseException, where: str, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"{where}: no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return one_line(f"{where}: {exc.strerror}")
    return one_line(f"{where}: {type(exc).__name__}: {exc}")


async def _probe_tcp(cfg: HealthCheckConfig) -> tuple[bool, str]:
    if cfg.port is None:
        return False, "tcp check without a port"
    where = f"{cfg.host}:{cfg.port}"
    try:
        async with asyncio.timeout(cfg.timeout):
            _, writer = await asyncio.open_connection(cfg.host, cfg.port)
    except (OSError, TimeoutError) as exc:
        return False, _connect_error(exc, where, cfg.timeout)
    writer.close()
    return True, f"{where}: connected"


async def _probe_http(cfg: HealthCheckConfig, wid: int,
                      env: Mapping[str, str]) -> tuple[bool, str]:
    if not cfg.url:
        return False, "http check without a url"
    url = expand(cfg.url, wid=wid, env=env)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, one_line(f"{url}: not an http:// or https:// URL")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
        "User-Agent: ringleader-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1", errors="replace")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(cfg.timeout):
            context = None
            if tls:
                import ssl  # https only: ssl costs the controller about 4 MB

                context = ssl.create_default_context()
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=context)
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
    except (OSError, TimeoutError, ValueError) as exc:
        return False, _connect_error(exc, url, cfg.timeout)
    finally:
        if writer is not None:
            writer.close()
    fields = line.decode("latin-1").split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        shown = line[:60].decode("latin-1").strip() or "nothing"
        return False, one_line(f"{url}: not an HTTP response ({shown!r})")
    code = int(fields[1])
    reason = fields[2].strip() if len(fields) > 2 else ""
    return 200 <= code < 400, one_line(f"{url}: HTTP {code} {reason}".rstrip())


async def _probe_command(cfg: HealthCheckConfig, wid: int, env: Mapping[str, str],
                         cwd: str | None) -> tuple[bool, str]:
    if not cfg.command:
        return False, "command check without a command"
    try:
        argv = shlex.split(expand(cfg.command, wid=wid, env=env))
    except ValueError as exc:
        return False, one_line(f"bad command: {exc}")
    if not argv:
        return False, "command check with an empty command"
    result = await run_command(argv, env=env, cwd=cwd, timeout=cfg.timeout, limit=4096)
    if result.timed_out:
        return False, f"no result within {cfg.timeout:g}s (killed)"
    return result.ok, result.describe()
