"""Health checks: one probe (http, tcp or command) and the per-watcher monitor that probes
every live process each `interval`, tells readiness on the first pass and restarts a
process after `failures` failed probes in a row.

Everything runs on the controller's event loop without blocking it: the HTTP probe is a
minimal HTTP/1.1 GET over asyncio streams, and commands run through ``proc.command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ringleader.config.features import HealthCheckConfig
from ringleader.config.substitute import expand
from ringleader.lifecycle.events import Event, ProcessStateChanged, WatcherChanged
from ringleader.lifecycle.states import ProcessState
from ringleader.proc.command import one_line, run_command

if TYPE_CHECKING:
    from ringleader.core.process import Process
    from ringleader.core.watcher import Watcher

log = logging.getLogger("ringleader.health")
PS = ProcessState


# -- probes -----------------------------------------------------------------------------


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


# -- monitor ----------------------------------------------------------------------------

# How often a process that is still STARTING is probed (when `interval` is longer): its
# first pass is what makes it ready when readiness is "health".
STARTING_INTERVAL = 0.5


@dataclass(slots=True)
class _Track:
    """What the monitor knows of one OS process (one (wid, pid))."""

    started: float  # in the monitor's clock
    due: float  # next probe
    failures: int = 0


class HealthMonitor:
    """Probes every live process of one watcher each `cfg.interval` (those of a round
    concurrently; a process still STARTING every STARTING_INTERVAL, and a new one at
    once). Per process (per pid):

    - the first passing probe of a STARTING process marks it ready (unless the watcher's
      readiness is sd_notify's);
    - failures do not count while it is STARTING (``ready_timeout`` bounds that phase)
      nor within `start_period` of its start;
    - `failures` counted failures in a row publish WatcherChanged(action="unhealthy")
      and restart it (``Watcher.restart_process``); a pass resets the count.

    Start it before the watcher itself when readiness is "health": ``Watcher.start``
    waits for its processes to be ready, which only the monitor can tell."""

    def __init__(self, watcher: Watcher, cfg: HealthCheckConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.watcher = watcher
        self.cfg = cfg
        self._clock = clock
        self._tracks: dict[tuple[int, int], _Track] = {}
        self._restarts: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._run(self._wake), name=f"health check of {self.watcher.name}")

    async def stop(self) -> None:
        """Stop probing. A restart already under way is let finish (it is a stop and a
        spawn of the same slot: cutting it short could leave the slot empty)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._restarts:
            await asyncio.gather(*self._restarts.values(), return_exceptions=True)

    def _on_event(self, event: Event) -> None:
        if (isinstance(event, ProcessStateChanged) and event.watcher == self.watcher.name
                and event.new == PS.STARTING.value and self._wake is not None):
            self._wake.set()  # a new process: probe it now rather than at the next round

    async def _run(self, wake: asyncio.Event) -> None:
        unsubscribe = self.watcher._services.bus.subscribe(self._on_event)
        try:
            while True:
                wake.clear()
                try:
                    await self._round(due_only=True)
                except Exception:
                    log.exception("health check round of watcher %s failed",
                                  self.watcher.name)
                now = self._clock()
                delay = min([self.cfg.interval, *(t.due - now for k, t in self._tracks.items()
                                                  if k not in self._restarts)])
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, delay)):
                        await wake.wait()
        finally:
            unsubscribe()

    async def check_once(self) -> None:
        """One round now: probe every live process concurrently and act on the results."""
        await self._round(due_only=False)

    async def _round(self, *, due_only: bool) -> None:
        live = [p for p in list(self.watcher.processes.values())
                if p.state in (PS.STARTING, PS.RUNNING) and p.pid is not None]
        keys = {(p.wid, p.pid) for p in live}
        for key in [k for k in self._tracks if k not in keys]:
            del self._tracks[key]
        now = self._clock()
        targets = []
        for proc in live:
            assert proc.pid is not None
            key = (proc.wid, proc.pid)
            if key in self._restarts:
                continue
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = _Track(started=now - proc.uptime(), due=now)
            if not due_only or track.due <= now:
                track.due = now + (min(self.cfg.interval, STARTING_INTERVAL)
                                   if proc.state is PS.STARTING else self.cfg.interval)
                targets.append(proc)
        if targets:
            await asyncio.gather(*(self._check_safely(p) for p in targets))

    async def _check_safely(self, proc: Process) -> None:
        try:
            await self._check(proc)
        except Exception:  # one process's trouble must not cost the others their check
            log.exception("health check of %s failed", proc.name)

    async def _check(self, proc: Process) -> None:
        pid = proc.pid
        assert pid is not None
        key = (proc.wid, pid)
        watcher = self.watcher
        env = dict(watcher.template.env)
        env["RINGLEADER_WID"] = str(proc.wid)
        env["RINGLEADER_PID"] = str(pid)
        healthy, detail = await probe(self.cfg, wid=proc.wid, env=env,
                                      cwd=watcher.config.working_dir)
        track = self._tracks.get(key)
        if (track is None or proc.pid != pid
                or proc.state not in (PS.STARTING, PS.RUNNING)):
            return  # it went away (or is being stopped) meanwhile: the result is moot
        if healthy:
            if track.failures:
                log.info("%s pid %d: health check passes again: %s", proc.name, pid, detail)
            track.failures = 0
            if proc.state is PS.STARTING and watcher.config.readiness != "notify":
                proc.mark_ready("health check passed")
                track.due = min(track.due, self._clock() + self.cfg.interval)
            return
        if proc.state is PS.STARTING or (
                self._clock() - track.started < self.cfg.start_period):
            log.debug("%s pid %d: health check failed while starting: %s",
                      proc.name, pid, detail)
            return
        track.failures += 1
        log.log(logging.INFO if track.failures < self.cfg.failures else logging.WARNING,
                "%s pid %d: health check failed (%d/%d): %s", proc.name, pid,
                track.failures, self.cfg.failures, detail)
        if track.failures >= self.cfg.failures and key not in self._restarts:
            reason = f"{track.failures} failed health checks in a row: {detail}"
            watcher._services.bus.publish(WatcherChanged(
                watcher=watcher.name, action="unhealthy",
                detail=f"{proc.name} pid {pid}: {reason}"))
            task = asyncio.get_running_loop().create_task(self._restart(key, reason))
            self._restarts[key] = task

    async def _restart(self, key: tuple[int, int], reason: str) -> None:
        wid, pid = key
        try:
            proc = self.watcher.processes.get(wid)
            if proc is not None and proc.pid == pid:  # not already replaced meanwhile
                await self.watcher.restart_process(wid, f"unhealthy: {reason}")
        except Exception:
            log.exception("%s.%d: restart after failed health checks failed",
                          self.watcher.name, wid)
        finally:
            self._restarts.pop(key, None)
            self._tracks.pop(key, None)
