"""Health checks: one probe (http, tcp or command) and the per-watcher monitor that probes
every live process each `interval`, tells readiness on the first pass and restarts a
process after `failures` failed probes in a row.

Everything runs on the controller's event loop without blocking it: the HTTP probe is a
minimal HTTP/1.1 GET over asyncio streams, and commands are started with
``subprocess.Popen`` (vfork + exec) and awaited through a pidfd, so no thread per child.
A command that overruns its timeout is killed with its whole process group and always
reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ringleader.config.features import HealthCheckConfig
from ringleader.config.substitute import expand
from ringleader.core.events import Event, ProcessStateChanged, WatcherChanged
from ringleader.core.states import ProcessState

if TYPE_CHECKING:
    from ringleader.core.process import Process
    from ringleader.core.watcher import Watcher

log = logging.getLogger("ringleader.health")
PS = ProcessState

OUTPUT_LIMIT = 64 * 1024  # bytes of a command's output kept (the last ones)
_EXIT_GRACE = 1.0  # after a command exits, how long its output may still trickle in
_DETAIL_MAX = 200
# Keeps reaper tasks alive (the loop holds tasks weakly) when their caller was cancelled.
_BACKGROUND: set[asyncio.Task[int]] = set()


# -- commands ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int | None  # None: did not run (see error) or killed by us on timeout
    output: bytes  # stdout and stderr interleaved; at most the last OUTPUT_LIMIT bytes
    truncated: bool = False
    timed_out: bool = False
    error: str = ""  # why it could not be started

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line: how it ended, and the first line of what it said."""
        if self.error:
            return self.error
        if self.timed_out:
            how = "timed out (killed)"
        elif self.returncode is not None and self.returncode < 0:
            how = f"killed by {_signal_name(-self.returncode)}"
        else:
            how = f"exit code {self.returncode}"
        first = next((ln for ln in self.output.decode(errors="replace").splitlines()
                      if ln.strip()), "")
        return _one_line(f"{how}: {first.strip()}" if first else how)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 3] + "..."


def _killpg(pid: int) -> None:
    # The command runs in its own session: its pgid is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _wait_pid(pid: int) -> int:
    """Reap `pid` (our child) once it exits; returns its wait status. Sleeps on a pidfd
    in the loop (a thread blocking in waitpid where pidfds are missing)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return (await asyncio.to_thread(os.waitpid, pid, 0))[1]
    loop = asyncio.get_running_loop()
    reaped = False
    try:
        while True:
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited:
                reaped = True
                return status
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
    finally:
        os.close(fd)
        if not reaped:  # cancelled: a last chance, so that nothing is left as a zombie
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


async def run_command(argv: Sequence[str], *, env: Mapping[str, str], timeout: float,
                      cwd: str | None = None, limit: int = OUTPUT_LIMIT) -> CommandResult:
    """Run `argv` (no shell) in a session of its own, stdin from /dev/null, capturing
    the last `limit` bytes of its output. After `timeout` seconds its process group is
    SIGKILLed. The child is always reaped, also when the caller is cancelled."""
    loop = asyncio.get_running_loop()
    argv = list(argv)
    program = None
    if argv and os.sep not in argv[0]:
        # As for the watcher's own processes: the child's PATH, else the controller's.
        path = env.get("PATH") or os.environ.get("PATH", os.defpath)
        import shutil  # only for commands: shutil brings bz2 and lzma into the controller

        program = shutil.which(argv[0], path=path)
    rfd, wfd = os.pipe()
    try:
        popen = subprocess.Popen(
            argv, executable=program, stdin=subprocess.DEVNULL, stdout=wfd, stderr=wfd,
            env=dict(env), cwd=cwd, start_new_session=True, close_fds=True,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        os.close(rfd)
        os.close(wfd)
        what = argv[0] if argv else "(empty command)"
        if isinstance(exc, FileNotFoundError):
            return CommandResult(None, b"", error=f"cannot run {what!r}: not found")
        if isinstance(exc, PermissionError):
            return CommandResult(None, b"", error=f"cannot run {what!r}: permission denied")
        return CommandResult(None, b"", error=_one_line(f"cannot run {what!r}: {exc}"))
    os.close(wfd)
    os.set_blocking(rfd, False)
    pid = popen.pid
    buf = bytearray()
    truncated = False
    eof: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        nonlocal truncated
        try:
            chunk = os.read(rfd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(rfd)
            _resolve(eof)
            return
        buf.extend(chunk)
        if len(buf) > limit:
            del buf[: len(buf) - limit]
            truncated = True

    loop.add_reader(rfd, on_readable)
    reap = loop.create_task(_wait_pid(pid))
    _BACKGROUND.add(reap)
    reap.add_done_callback(_BACKGROUND.discard)
    timed_out = False
    status: int | None = None
    deadline = loop.time() + timeout
    try:
        try:
            async with asyncio.timeout_at(deadline):
                status = await asyncio.shield(reap)
        except TimeoutError:
            timed_out = True
            _killpg(pid)
            status = await asyncio.shield(reap)
        # What it wrote just before exiting may still be in the pipe; a grandchild
        # that keeps the pipe open is not waited for beyond a short grace.
        with contextlib.suppress(TimeoutError):
            grace = max(0.0, min(_EXIT_GRACE, deadline - loop.time()))
            async with asyncio.timeout(grace):
                await asyncio.shield(eof)
    finally:
        if status is None:  # cancelled: kill; the reaper task still reaps it
            _killpg(pid)
            popen.returncode = -signal.SIGKILL  # Popen must not think it still runs
        loop.remove_reader(rfd)
        os.close(rfd)
        if not eof.done():
            eof.cancel()
    code = os.waitstatus_to_exitcode(status)
    popen.returncode = code  # reaped by us: keep Popen from warning or waiting again
    return CommandResult(None if timed_out else code, bytes(buf), truncated=truncated,
                         timed_out=timed_out)


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
        return False, _one_line(f"probe error: {type(exc).__name__}: {exc}")


def _connect_error(exc: BaseException, where: str, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"{where}: no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return _one_line(f"{where}: {exc.strerror}")
    return _one_line(f"{where}: {type(exc).__name__}: {exc}")


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
        return False, _one_line(f"{url}: not an http:// or https:// URL")
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
        return False, _one_line(f"{url}: not an HTTP response ({shown!r})")
    code = int(fields[1])
    reason = fields[2].strip() if len(fields) > 2 else ""
    return 200 <= code < 400, _one_line(f"{url}: HTTP {code} {reason}".rstrip())


async def _probe_command(cfg: HealthCheckConfig, wid: int, env: Mapping[str, str],
                         cwd: str | None) -> tuple[bool, str]:
    if not cfg.command:
        return False, "command check without a command"
    try:
        argv = shlex.split(expand(cfg.command, wid=wid, env=env))
    except ValueError as exc:
        return False, _one_line(f"bad command: {exc}")
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
