"""Arbiter: the controller. Composes watchers, the event bus, output capture, the child
reaper and the guardian; the only place where those are built."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ringleader.config.features import SocketConfig
from ringleader.config.load import as_watcher_config, as_watcher_configs
from ringleader.config.model import Config, ControllerConfig, GroupConfig, WatcherConfig
from ringleader.config.plan import ReloadPlan, plan_reload
from ringleader.engine import order
from ringleader.engine.answers import OptionsResponse, WatcherInfo
from ringleader.engine.on_demand import OnDemand
from ringleader.engine.queries import Queries
from ringleader.engine.reload import carry_out
from ringleader.engine.services import (
    Services,
    cgroup_instance,
    check_capacity,
    check_total,
    check_unique,
    checked_count,
    raise_nofile_limit,
    sweep_cgroups,
)
from ringleader.engine.shutdown import close_services, drain_output
from ringleader.engine.watcher import Watcher, spawn_template
from ringleader.errors import AlreadyExists, NotRunning
from ringleader.lifecycle.events import ConfigReloaded, Event, EventBus, WatcherChanged
from ringleader.output.logbuffer import LogBuffer
from ringleader.output.streams import StreamHub
from ringleader.proc.guardian import Guardian
from ringleader.proc.reaper import Reaper
from ringleader.proc.signals import parse_signal

if TYPE_CHECKING:
    from ringleader.features.listeners import EventHub
    from ringleader.features.notify import NotifySocket
    from ringleader.features.stats import StatsSampler

log = logging.getLogger("ringleader.arbiter")


class Arbiter(Queries):
    """Runs watchers on the running event loop: ``async with Arbiter(watchers) as arbiter:``
    (or ``await start()`` ... ``await stop()``).

    `watchers` are WatcherConfig objects or plain dicts with the config file's option
    names (``{"cmd": "python worker.py", "numprocesses": 3}``); a bad one raises TypeError
    or ConfigError (a ValueError) here. Its methods are the console's commands; queries
    answer with the control API's Structs (``ringleader.engine.answers``), errors are
    ``ringleader.errors`` (NotFound, ...). Not thread-safe: call it from its loop (other
    threads use ``ringleader.get_arbiter``).
    """

    def __init__(
        self,
        watchers: Iterable[WatcherConfig | Mapping[str, Any]] = (),
        controller: ControllerConfig | None = None,
        *,
        console_fd: int = 1,
        console_color: bool | None = None,
        use_guardian: bool = True,
        source: str | None = None,
        sockets: Sequence[SocketConfig] = (),
        start: Mapping[str, bool] | None = None,
        groups: Sequence[GroupConfig] = (),
    ) -> None:
        configs = as_watcher_configs(watchers)
        self.controller = controller or ControllerConfig()
        check_total(configs, self.controller.max_processes)
        check_unique(configs)
        self.source = source
        self.bus = EventBus()
        self.logbuffer = LogBuffer()
        self._sampler: StatsSampler | None = None
        self._configs = configs
        self._console_fd = console_fd
        self._console_color = console_color  # None: each stream's option, else the tty
        self._use_guardian = use_guardian
        self._watchers: dict[str, Watcher] = {}
        self._services: Services | None = None
        self._reload_lock = asyncio.Lock()
        self._stopping = False
        self.started_at = 0.0
        # False until start() has started (or tried) every autostart watcher.
        self.booted = False
        self._socket_configs = list(sockets)
        self.groups = list(groups)
        # Which watchers start with the controller, where the operator's last word (the
        # state file) overrides `autostart`.
        self._start_overrides = dict(start or {})
        self.sockets = None
        self._notify: NotifySocket | None = None
        # circus on_demand: started by the first connection to their sockets
        self._on_demand = OnDemand(self.bus, self.start_watcher)
        self._events: EventHub | None = None
        # The listeners' XML-RPC socket's URL (api.supervisor_socket), asked at each
        # listener's spawn: the daemon opens the socket at the first need
        self.supervisor_url: Callable[[], str] = lambda: ""

    @property
    def sampler(self) -> StatsSampler:
        """The stats sampler (CPU, memory, fds of the processes), made on first use: the
        `stats` command, auto-scaling and resource limits need it, a start does not."""
        if self._sampler is None:
            from ringleader.features.stats import StatsSampler

            self._sampler = StatsSampler()
        return self._sampler

    @sampler.setter
    def sampler(self, sampler: StatsSampler) -> None:
        self._sampler = sampler

    # -- lifecycle ------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Started and not yet stopped."""
        return self._services is not None

    @property
    def is_stopping(self) -> bool:
        """``stop()`` is stopping the watchers."""
        return self._stopping

    @property
    def is_reloading(self) -> bool:
        """A ``reload_config`` is being applied."""
        return self._reload_lock.locked()

    async def start(self, *, skip_refused: bool = False) -> None:
        """Start every autostart watcher (dependencies first, then by priority); returns
        once their processes are ready (those that are not stay with their respawn policy,
        logged). A watcher whose before_start hook refuses raises HookFailed (the caller
        stops the arbiter), or with `skip_refused` (the daemon, as circus) stays stopped,
        logged, and the others start."""
        if self._services is not None:
            raise RuntimeError("Arbiter already started")
        loop = asyncio.get_running_loop()
        self.started_at = time.monotonic()
        raise_nofile_limit()
        if self._socket_configs:
            from ringleader.features.sockets import SocketSet

            # Bound before any worker starts; a port in use fails the start here.
            self.sockets = SocketSet(self._socket_configs)
            self.sockets.bind_all()
        await sweep_cgroups(self._configs)
        reaper = Reaper(loop)
        guardian = Guardian(loop, reaper) if self._use_guardian else None
        self._services = Services(loop=loop, bus=self.bus, reaper=reaper,
                                  guardian=guardian, hub=StreamHub(console_fd=self._console_fd,
                                                                   logbuffer=self.logbuffer,
                                                                   color=self._console_color),
                                  capacity=self._check_capacity,
                                  sampler=lambda: self.sampler,
                                  sockets=self.sockets, notify=self._notify_socket(loop),
                                  cgroup_instance=cgroup_instance(self._configs),
                                  config_dir=os.path.dirname(os.path.abspath(self.source))
                                  if self.source else None, event_hub=self._event_hub,
                                  supervisor_url=lambda: self.supervisor_url())
        self._stopping = False
        self._unsubscribe_requires = self.bus.subscribe(self._on_event_for_requires)
        for cfg in self._configs:
            self._watchers[cfg.name] = Watcher(cfg, self._services)
        order.assign_groups(self._watchers.values(), self.groups)
        for cfg in self._configs:
            self._on_demand.track(cfg, loop, self.sockets)
        log.info("controller started with %d watcher(s)", len(self._watchers))
        order.log_failed(await self._start_in_order([
            w for w in self._watchers.values()
            if self._start_overrides.get(w.name, w.config.autostart) and not w.config.on_demand],
            raise_refused=not skip_refused))
        self.booted = True

    def reopen_logs(self) -> None:
        """Reopen every watcher's log file at its next write (logrotate moved them)."""
        if self._services is not None:
            self._services.hub.reopen_files()

    async def stop(self) -> None:
        """Stop every watcher (by priority, lowest first), drain output, release all.
        Idempotent; the arbiter may be started again."""
        services = self._services
        if services is None or self._stopping:
            return
        self._stopping = True
        try:
            await self._on_demand.close()
            await self.stop_watcher(None)
            await asyncio.gather(*(w.close() for w in self._watchers.values()))
            await drain_output(self._watchers.values())
        finally:
            self._unsubscribe_requires()
            await close_services(services, self._events)
            self._events, self._notify, self.sockets = None, None, None
            self._configs = [w.config for w in self._watchers.values()]
            self._watchers.clear()
            self._services = None
            self.started_at = 0.0
            log.info("controller stopped")

    async def __aenter__(self) -> Arbiter:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def _event_hub(self) -> EventHub:
        if self._events is None:
            from ringleader.features.listeners import EventHub

            self._events = EventHub(self._require_services().loop, self.bus,
                                    lambda: self._watchers)
        return self._events

    async def _start_in_order(self, chosen: Iterable[Watcher], *,
                              raise_refused: bool = False) -> list[order.StartFailed]:
        return await order.start_in_order(self._watchers.values(), chosen,
                                          raise_refused=raise_refused, groups=self.groups,
                                          warmup_delay=self.controller.warmup_delay)

    def _notify_socket(self, loop: asyncio.AbstractEventLoop) -> NotifySocket:
        """The sd_notify socket. Always there (one idle datagram socket, no file), so that
        a watcher added or changed at runtime to readiness = "notify" finds it."""
        from ringleader.features.notify import NotifySocket

        if self._notify is None:
            self._notify = NotifySocket()
            self._notify.start(loop, self._on_notify)
        return self._notify

    def _on_notify(self, pid: int, fields: dict[str, str]) -> None:
        from ringleader.features.notify import owner_of

        procs = {p.pid: p for w in self._watchers.values() for p in w.all_processes()
                 if p.pid is not None and p.is_alive}
        proc = procs.get(pid) or procs.get(owner_of(pid, procs) or 0)
        if proc is not None:  # else not ours (e.g. systemd-notify's own BARRIER message)
            proc.on_notify(fields)

    def _on_event_for_requires(self, event: Event) -> None:
        if not self._stopping:
            for w in order.requiring(event, self._watchers.values()):
                self._require_services().loop.create_task(w.stop())

    def own_pids(self) -> set[int]:
        """Every child this controller started and still tracks (for PID 1 reaping)."""
        return set() if self._services is None else self._services.own_pids()

    def _check_capacity(self, name: str, count: int) -> None:
        check_capacity(self._watchers.values(), name, count, self.controller.max_processes)

    # -- operations -----------------------------------------------------------------

    def _require_services(self) -> Services:
        if self._services is None:
            raise NotRunning("the arbiter is not running: start it first")
        return self._services

    async def add_watcher(self, config: WatcherConfig | Mapping[str, Any],
                          *, start: bool = True) -> WatcherInfo:
        """Add a watcher (a dict of options, or a WatcherConfig) and, unless `start` is
        False, start it; returns once its processes are ready (``add``)."""
        services = self._require_services()
        cfg = as_watcher_config(config)
        if cfg.name in self._watchers:
            raise AlreadyExists(f"a watcher named {cfg.name!r} already exists")
        self._check_capacity(cfg.name, cfg.numprocesses)
        watcher = self._add(cfg, services)
        self._on_demand.track(cfg, services.loop, self.sockets)
        if start and not cfg.on_demand:
            await watcher.start()
        return self.status(cfg.name)

    def _add(self, cfg: WatcherConfig, services: Services) -> Watcher:
        watcher = self._watchers[cfg.name] = Watcher(cfg, services)
        self.bus.publish(WatcherChanged(watcher=cfg.name, action="added"))
        return watcher

    async def remove_watcher(self, name: str) -> None:
        """Stop a watcher gracefully and forget it (``rm``)."""
        watcher = self.watcher(name)
        self._on_demand.forget(name)
        await watcher.stop()
        await watcher.close()
        await drain_output([watcher])
        self._watchers.pop(name, None)
        self.logbuffer.forget(name)
        self.bus.publish(WatcherChanged(watcher=name, action="removed"))

    async def start_watcher(self, name: str | None = None) -> None:
        """Start one watcher, or every watcher in dependency and priority order; returns
        once the processes are ready (NotReady if some are not: they stay with their
        respawn policy). Revives what the respawn policy gave up on."""
        order.raise_failed(await self._start_in_order(
            [self.watcher(name)] if name else self._watchers.values()))

    async def stop_watcher(self, name: str | None = None) -> None:
        """Stop one watcher, or every watcher in reverse order, gracefully; returns once
        the processes are gone."""
        if name:
            await self.watcher(name).stop()
            return
        await order.stop_in_order(self._watchers.values(), self._watchers.values(),
                                  groups=self.groups)

    async def restart(self, name: str | None = None) -> None:
        """Stop, then start again, one watcher (or all: the autostart ones start)."""
        if name:
            await self.watcher(name).restart()
            return
        await self.stop_watcher()
        order.raise_failed(await self._start_in_order(
            [w for w in self._watchers.values() if w.config.autostart]))

    async def reload(self, name: str | None = None) -> None:
        """Replace processes one at a time (every watcher, in priority order, if no name):
        a new one is ready before the old one stops. ReloadFailed if the new ones do not
        become ready (the old ones keep running)."""
        if name:
            await self.watcher(name).reload()
            return
        for level in order.start_levels(self._watchers.values(), self.groups):
            for name in level:
                await self._watchers[name].reload()

    async def set_options(self, name: str, changes: Mapping[str, Any]) -> OptionsResponse:
        """Change options, with the config file's names and values (``set``): live ones
        at once, others by a zero-downtime reload. ConfigError changes nothing."""
        if not isinstance(changes, Mapping):
            raise TypeError(f"changes must be a dict of option -> value, got "
                            f"{type(changes).__name__}")
        await self.watcher(name).set_options(changes)
        return self.options(name)

    async def incr(self, name: str, count: int = 1) -> int:
        """Add `count` processes; returns the new number."""
        return await self.watcher(name).incr(checked_count(count))

    async def decr(self, name: str, count: int = 1) -> int:
        """Remove `count` processes (the highest slots, stopped gracefully); returns the
        new number."""
        return await self.watcher(name).decr(checked_count(count))

    async def set_numprocesses(self, name: str, count: int) -> int:
        """Scale to `count` processes; returns the new number."""
        return await self.watcher(name).set_numprocesses(checked_count(count))

    async def signal(self, name: str, signum: int | str, *, wid: int | None = None,
                     pid: int | None = None, children: bool = False) -> int:
        """Send a signal (a number, or a name: "HUP", "SIGUSR1") to every live process of
        the watcher, or to one (`wid`, or `pid`), with its process group if `children`;
        between the before_signal and after_signal hooks. Returns how many got it."""
        number = parse_signal(signum)
        return await self.watcher(name).signal(number, wid=self.slot_of(name, wid, pid),
                                               children=children)

    async def reload_config(self, config: Config) -> ReloadPlan:
        """Apply a new configuration (``reloadconfig``): add, remove, replace changed
        watchers, rescale those where only numprocesses changed; leave the others (and
        their pids) alone."""
        services = self._require_services()
        async with self._reload_lock:
            check_total(config.watchers, config.controller.max_processes)
            plan = plan_reload([w.config for w in self._watchers.values()], config.watchers)
            for cfg in (*plan.added, *plan.changed):  # all or nothing: fail before acting
                spawn_template(cfg)
            if list(config.sockets) != self._socket_configs:
                log.warning("reload: socket changes take effect when the controller restarts")
            added = await carry_out(plan, self._watchers, remove=self.remove_watcher,
                                    add=lambda cfg: self._add(cfg, services))
            self.controller = config.controller
            # The new config is in place either way: failures are the log's.
            self.groups = list(config.groups)
            order.assign_groups(self._watchers.values(), self.groups)
            for cfg in (*plan.added, *plan.changed):
                self._on_demand.track(cfg, services.loop, self.sockets)
            order.log_failed(await self._start_in_order(
                [w for w in added if w.config.autostart and not w.config.on_demand]))
            self.bus.publish(ConfigReloaded(
                source=config.source or "", added=tuple(c.name for c in plan.added),
                removed=plan.removed, changed=tuple(c.name for c in plan.changed),
            ))
            log.info("config reloaded: %d added, %d removed, %d changed, %d rescaled",
                     len(plan.added), len(plan.removed), len(plan.changed), len(plan.rescaled))
            return plan
