"""Watcher: a named group of identical process slots, converging the actual processes
towards the desired state (running or not, how many)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ringleader.config import options
from ringleader.config.features import HookName
from ringleader.config.model import WatcherConfig
from ringleader.config.sections.compat import WID_REF
from ringleader.engine import readiness
from ringleader.engine.features import Features
from ringleader.engine.process import Process
from ringleader.engine.rollout import LIVE_OPTIONS, replace_processes
from ringleader.engine.services import Services
from ringleader.engine.status import watcher_status
from ringleader.errors import ConfigError, HookFailed, NotFound, NotReady, ReloadFailed
from ringleader.lifecycle.events import EventBus, WatcherChanged
from ringleader.lifecycle.states import ProcessState, WatcherState
from ringleader.proc.guardian import Guardian
from ringleader.proc.spawn import SpawnSpec, SpawnTemplate, build_template

if TYPE_CHECKING:
    from ringleader.features.listeners import ListenerPool

log = logging.getLogger("ringleader.watcher")
WS = WatcherState
_SPAWN_BATCH = 32
PS = ProcessState


class Watcher:
    __slots__ = ("_services", "config", "desired", "features", "group", "lock", "name",
                 "numprocesses", "processes", "refused", "retiring", "state", "template")

    def __init__(self, config: WatcherConfig, services: Services) -> None:
        self.name = config.name
        self.group: str | None = None  # its [groups.NAME], set by the arbiter
        self.config = config
        self.template = spawn_template(config)
        self.numprocesses = _clamp(config, config.numprocesses)
        self.state = WS.STOPPED
        # Whether the controller means to run it (its last start or stop, or its autostart
        # at the controller's start), and why its last start was refused, if it was.
        self.desired = False
        self.refused = ""
        self.processes: dict[int, Process] = {}
        # Old processes a reload has replaced, still serving until their successors are
        # ready.
        self.retiring: list[Process] = []
        # Serialises mutations of this watcher (start/stop/scale/restart).
        self.lock = asyncio.Lock()
        self._services = services
        self.features = Features(self, services)

    @property
    def is_active(self) -> bool:
        return self.state in (WS.STARTING, WS.ACTIVE)

    @property
    def is_busy(self) -> bool:
        """A start, stop, scale or reload holds the lock: processes are in flux."""
        return self.lock.locked()

    @property
    def bus(self) -> EventBus:
        return self._services.bus

    # What a Process asks of its watcher (owner.Owner).
    def spec_for(self, wid: int) -> SpawnSpec:
        return self.features.spec_for(wid)

    def hook_in_background(self, name: HookName, **extra: object) -> None:
        self.features.hook_in_background(name, **extra)

    def wants(self, wid: int) -> bool:
        return self.is_active and wid <= self.numprocesses

    def listener_pool(self) -> ListenerPool | None:
        return self.features.listener

    def _set_state(self, state: WatcherState, detail: str = "") -> None:
        if state is self.state:
            return  # e.g. stop() then _stop_locked(): one "stopping" event, not two
        self.state = state
        self._services.bus.publish(WatcherChanged(watcher=self.name, action=state.value,
                                                  detail=detail))

    def _slot(self, wid: int) -> Process:
        proc = self.processes.get(wid)
        if proc is None:
            proc = self.processes[wid] = Process(self, wid, self._services)
        return proc

    async def _start_slots(self, wids: range) -> None:
        delay = self.config.warmup_delay
        hooked = "before_spawn" in self.config.hooks
        # The guardian hears of the spawns between two awaits in one write (proc.guardian).
        guardian = self._services.guardian
        try:
            for i, wid in enumerate(wids):
                if not self.is_active:
                    return  # stopped meanwhile
                if i and delay > 0:
                    _flush(guardian)
                    await asyncio.sleep(delay)  # warmup_delay: spacing between spawns
                elif i % _SPAWN_BATCH == _SPAWN_BATCH - 1:
                    # Let the loop breathe during a large start: signals, API calls and a
                    # stop request are served between batches.
                    _flush(guardian)
                    await asyncio.sleep(0)
                if hooked:
                    _flush(guardian)
                    if not await self.features.run_hook("before_spawn", wid=wid):
                        log.error("%s.%d: before_spawn hook failed: not started", self.name,
                                  wid)
                        continue
                if guardian is not None:
                    guardian.hold()
                self._slot(wid).start()
        finally:
            _flush(guardian)

    async def start(self) -> None:
        """Start every slot; returns once the processes are ready (or `ready_timeout`)."""
        self.desired = True
        async with self.lock:
            if self.state is WS.ACTIVE:
                # An explicit start revives what the respawn policy parked or gave up.
                parked = [p for p in self.processes.values()
                          if p.state in (PS.FLAPPING, PS.FAILED, PS.EXITED, PS.STOPPED)
                          and self.wants(p.wid)]
                for proc in parked:
                    proc.start()
                await self._ready_or_raise(parked)
                return
            await self._start_locked()

    async def _start_locked(self, detail: str = "") -> None:
        """The one start sequence (start and restart): before_start, spawns, readiness,
        after_start."""
        self.refused = ""
        if not await self.features.run_hook("before_start"):
            self.refused = "before_start hook failed"
            raise HookFailed(f"watcher {self.name!r}: {self.refused}")
        log.info("starting watcher %s (numprocesses=%d)", self.name, self.numprocesses)
        self._set_state(WS.STARTING, detail)
        # Before the spawns: with readiness = "health", the monitor tells readiness.
        self.features.start_health()
        await self._start_slots(range(1, self.numprocesses + 1))
        await self._ready_or_raise(list(self.processes.values()), after_start=True)

    async def _ready_or_raise(self, procs: list[Process], *, after_start: bool = False) -> None:
        """End of a start: wait for `procs`; the watcher is active either way (processes
        not ready stay with their respawn policy), but NotReady tells the caller, unless
        a stop came meanwhile."""
        ready = await self.wait_ready(procs)
        if self.state is WS.STARTING:
            self._set_state(WS.ACTIVE)
            self.features.start_drivers()
            if ready and after_start:
                await self.features.run_hook("after_start")
        if not ready and self.is_active:
            raise NotReady(readiness.explain(self, procs, self.config.ready_timeout))

    async def wait_ready(self, procs: list[Process], timeout: float | None = None) -> bool:
        """Wait until every process of `procs` is running; False if one gave up (exited,
        failed) or `timeout` (default: the watcher's ready_timeout; 0 = none) passed."""
        timeout = self.config.ready_timeout if timeout is None else timeout
        return await readiness.wait_ready(self, procs, timeout)

    async def stop(self) -> None:
        """Stop every process gracefully (concurrently) and wait until all are reaped.
        A start or scale-up in progress is interrupted rather than waited for."""
        self.desired = False
        self.refused = ""
        if self.is_active:
            self._set_state(WS.STOPPING)
        await self.features.stop_drivers()
        await self.features.stop_health()
        async with self.lock:
            await self._stop_locked()

    async def _stop_locked(self) -> None:
        if self.state is WS.STOPPED and not any(p.is_alive for p in self.all_processes()):
            return
        log.info("stopping watcher %s", self.name)
        self._set_state(WS.STOPPING)
        await self.features.run_hook("before_stop")
        await asyncio.gather(*(p.stop() for p in self.all_processes()))
        await self.features.contain()
        self.retiring.clear()
        self._set_state(WS.STOPPED)
        await self.features.run_hook("after_stop")

    def all_processes(self) -> list[Process]:
        """The current slots and the retiring processes a reload has not yet stopped."""
        return [*self.processes.values(), *self.retiring]

    async def restart(self) -> None:
        """A stop then the same start sequence, hooks included (HookFailed if before_start
        refuses: the watcher stays stopped)."""
        self.desired = True
        await self.features.stop_drivers()
        await self.features.stop_health()
        async with self.lock:
            await self._stop_locked()
            await self._start_locked("restart")

    async def restart_process(self, wid: int, reason: str) -> bool:
        """Replace one process (watchdog, failed health check, ...): graceful stop, then a
        new spawn in the same slot if the watcher still wants it. False if there was none."""
        proc = self.processes.get(wid)
        if proc is None or not proc.is_alive:
            return False
        log.warning("%s: restarting: %s", proc.name, reason)
        await proc.stop(reason)
        if self.wants(wid) and not proc.is_alive:
            proc.start()
        return True

    async def process_action(self, wid: int, action: str) -> None:
        """start, stop or restart one process (supervisorctl's group:process). A process
        stopped so stays stopped until started; a start of a stopped watcher starts it."""
        if action == "start" and not self.is_active:
            return await self.start()
        async with self.lock:
            proc = self.processes.get(wid)
            if proc is None:
                raise NotFound(f"watcher {self.name!r} has no process {wid}")
            if action != "start":
                await proc.stop(f"{action} requested")
            if action != "stop" and self.wants(wid) and not proc.is_alive:
                proc.start()
                await self.wait_ready([proc])

    async def reload(self) -> None:
        """Replace the processes one slot at a time, so that the others keep serving; with
        send_hup (circus), send them SIGHUP instead."""
        async with self.lock:
            if self.config.send_hup:
                if self.is_active:
                    log.info("reloading watcher %s: SIGHUP (send_hup)", self.name)
                    self.send_signal(signal.SIGHUP)
                return
            await replace_processes(self, self._services)

    async def set_options(self, changes: Mapping[str, Any]) -> WatcherConfig:
        """Change options (file option names and values); raises ConfigError and changes
        nothing when the result is invalid. Live options apply at once; others replace
        the processes one at a time."""
        new = options.apply(self.config, changes, where=f"watcher {self.name}")
        return await self.apply_config(new, scale="numprocesses" in changes)

    async def apply_config(self, new: WatcherConfig, *, scale: bool = True) -> WatcherConfig:
        """Switch to a new configuration of this watcher: live options at once, others by
        a zero-downtime reload (ReloadFailed: the old processes and config stay)."""
        changed = {f for f in new.__struct_fields__
                   if getattr(new, f) != getattr(self.config, f)}
        renew_drivers = bool(changed & {"autoscale", "watchdog"})
        if renew_drivers:
            # Before taking the lock: a driver's round may be waiting for it to scale.
            await self.features.stop_drivers()
        async with self.lock:
            old = self.config
            changed = {f for f in new.__struct_fields__ if getattr(new, f) != getattr(old, f)}
            # Everything that can fail comes before the first change.
            template = spawn_template(new) if changed - LIVE_OPTIONS else self.template
            self.config, self.template = new, template
            if "cgroup" in changed:
                self.features.apply_cgroup(new.cgroup)
            if changed & {"flapping", "backoff", "start_retries"}:
                for proc in self.processes.values():
                    proc.renew_policy()
            if renew_drivers and self.state is WS.ACTIVE:
                self.features.start_drivers()
            if "hooks" in changed:
                self.features.renew_hooks(new)
            if changed & {"events", "buffer_size"}:
                self.features.renew_listener(new, only_buffer="events" not in changed)
            if "health" in changed and self.is_active:
                await self.features.stop_health()
                self.features.start_health()
            self._services.bus.publish(WatcherChanged(
                watcher=self.name, action="options", detail=", ".join(sorted(changed))))
            log.info("watcher %s options changed: %s", self.name, ", ".join(sorted(changed)))
            if changed - LIVE_OPTIONS:
                try:
                    await replace_processes(self, self._services)
                except ReloadFailed:
                    # The old processes kept running: so does the old configuration.
                    self.config, self.template = old, spawn_template(old)
                    raise
        if (scale and new.numprocesses != self.numprocesses) or "singleton" in changed:
            await self.set_numprocesses(new.numprocesses)
        return new

    async def set_numprocesses(self, count: int) -> int:
        """Scale to `count` processes (started or stopped now if the watcher is active)."""
        async with self.lock:
            return await self._scale_locked(count)

    async def incr(self, count: int = 1) -> int:
        async with self.lock:  # read and change under one lock: concurrent incr add up
            return await self._scale_locked(self.numprocesses + count)

    async def decr(self, count: int = 1) -> int:
        async with self.lock:
            return await self._scale_locked(max(0, self.numprocesses - count))

    async def _scale_locked(self, count: int) -> int:
        old, new = self.numprocesses, _clamp(self.config, count)
        name = self.config.process_name
        if new > 1 and name is not None and not WID_REF.search(name):
            raise ConfigError([f"watcher {self.name}: process_name {name!r} would name every "
                               "process alike: more than one needs $(ringleader.wid) in it"])
        if new > old:
            self._services.capacity(self.name, new)
        self.numprocesses = new
        self._services.bus.publish(WatcherChanged(watcher=self.name, action="scaled",
                                                  detail=f"{old} -> {new}"))
        if self.is_active and new > old:
            await self._start_slots(range(old + 1, new + 1))
        # Remove the highest slots first, so wids stay 1..n.
        extra = sorted((w for w in self.processes if w > new), reverse=True)
        await asyncio.gather(*(self.processes[w].stop("scaled down") for w in extra))
        for wid in extra:
            if not self.processes[wid].is_alive:
                del self.processes[wid]
        return new

    async def signal(self, signum: int, *, wid: int | None = None,
                     children: bool = False) -> int:
        """An operator's signal, between the before_signal and after_signal hooks (a failed
        before_signal cancels it, except SIGKILL)."""
        pids = self.pids() if wid is None else [p for p in [self.processes[wid].pid] if p]
        if (not await self.features.run_hook("before_signal", signum=signum, pids=pids)
                and signum != signal.SIGKILL):
            raise HookFailed(f"watcher {self.name!r}: before_signal hook refused the signal")
        count = self.send_signal(signum, wid=wid, children=children)
        await self.features.run_hook("after_signal", signum=signum, pids=pids)
        return count

    def send_signal(self, signum: int, *, wid: int | None = None, children: bool = False) -> int:
        """Signal one or every live process; returns how many were signalled."""
        targets = [self.processes[wid]] if wid is not None else self.all_processes()
        return sum(p.send_signal(signum, children=children) for p in targets)

    def pids(self) -> list[int]:
        return [p.pid for p in self.all_processes() if p.is_alive and p.pid is not None]

    def status(self) -> dict[str, Any]:
        """The watcher and its slots, shaped as answers.WatcherInfo."""
        return watcher_status(self)

    async def wait_output(self) -> None:
        await asyncio.gather(*(p.wait_output() for p in self.processes.values()))

    def close_output(self) -> None:
        for p in self.processes.values():
            p.close_output()

    async def close(self) -> None:
        """The watcher is gone for good (rm, controller stop): release its cgroup."""
        await self.features.close()


def spawn_template(config: WatcherConfig) -> SpawnTemplate:
    """``build_template``, which cannot fail on a validated config (``config.sections``
    checks what it needs: cmd splits, ids in range). A belt all the same: whatever it
    raises becomes a ConfigError, raised before the caller changes anything."""
    try:
        return build_template(config)
    except Exception as exc:
        raise ConfigError([f"watcher {config.name}: cannot build its command line: "
                           f"{exc}"]) from None


def _flush(guardian: Guardian | None) -> None:
    if guardian is not None:
        guardian.flush()


def _clamp(config: WatcherConfig, count: int) -> int:
    return min(count, 1) if config.singleton else max(0, count)
