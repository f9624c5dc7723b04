"""The health monitor of one watcher: it probes every live process each `interval`, tells
readiness on the first pass and restarts a process after `failures` failed probes in a row.
It sees the watcher through ``lifecycle.views.WatcherView``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ringleader.config.features import HealthCheckConfig
from ringleader.features.health.probes import probe
from ringleader.lifecycle.events import Event, ProcessStateChanged, WatcherChanged
from ringleader.lifecycle.states import ProcessState
from ringleader.lifecycle.views import ProcessView, WatcherView

log = logging.getLogger("ringleader.health")
PS = ProcessState

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

    def __init__(self, watcher: WatcherView, cfg: HealthCheckConfig,
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
        unsubscribe = self.watcher.bus.subscribe(self._on_event)
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

    async def _check_safely(self, proc: ProcessView) -> None:
        try:
            await self._check(proc)
        except Exception:  # one process's trouble must not cost the others their check
            log.exception("health check of %s failed", proc.name)

    async def _check(self, proc: ProcessView) -> None:
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
            watcher.bus.publish(WatcherChanged(
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
