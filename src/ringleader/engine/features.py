"""What a watcher carries beyond its processes: the spawn wrappers (shared sockets,
sd_notify, cgroup), hooks, health checks and the periodic drivers (auto-scaling, resource
limits). The watcher holds one ``Features``; the features see the watcher only through
``lifecycle.views.WatcherView``, so none of them imports the engine."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ringleader.config.features import CgroupConfig, HookName
from ringleader.config.model import WatcherConfig
from ringleader.engine.services import Services
from ringleader.errors import RingleaderError
from ringleader.lifecycle.views import WatcherView
from ringleader.proc.guardian import GUARD_ENV
from ringleader.proc.spawn import SpawnSpec

if TYPE_CHECKING:
    from ringleader.features.cgroups.group import Cgroup
    from ringleader.features.hooks import HookRunner
    from ringleader.features.listeners import ListenerPool

log = logging.getLogger("ringleader.watcher")


class Driver(Protocol):
    """A periodic helper of a running watcher (auto-scaling, resource limits, health)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Features:
    """The feature wiring of one watcher. Each feature module is imported only when a
    watcher uses it."""

    __slots__ = ("_background", "_drivers", "_health", "_services", "_watcher", "cgroup",
                 "hooks", "listener")

    def __init__(self, watcher: WatcherView, services: Services) -> None:
        self._watcher = watcher
        self._services = services
        self._drivers: list[Driver] = []
        self._health: Driver | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.hooks: HookRunner | None = None
        self.renew_hooks(watcher.config)
        self.cgroup: Cgroup | None = None
        if watcher.config.cgroup is not None:
            self._make_cgroup(watcher.config.cgroup)
        self.listener: ListenerPool | None = None
        self.renew_listener(watcher.config)

    def renew_listener(self, config: WatcherConfig, *, only_buffer: bool = False) -> None:
        """An event listener pool when the watcher subscribes to supervisord events
        (`only_buffer`: the pool stays, with the new buffer_size)."""
        if only_buffer:
            if self.listener is not None:
                self.listener.buffer_size = config.buffer_size
            return
        hub = self._services.event_hub
        if self.listener is not None and hub is not None:
            hub().remove_pool(self.listener.name)
            self.listener = None
        if not config.events or hub is None:
            return
        from ringleader.features.listeners import ListenerPool
        from ringleader.lifecycle.states import ProcessState

        watcher = self._watcher

        def running(wid: int) -> bool:
            proc = watcher.processes.get(wid)
            return proc is not None and proc.state is ProcessState.RUNNING

        def name(wid: int) -> str:
            proc = watcher.processes.get(wid)
            return proc.name if proc is not None else f"{watcher.name}.{wid}"

        self.listener = ListenerPool(watcher.name, config.events, config.buffer_size,
                                     self._services.loop, running, name)
        hub().add_pool(self.listener)

    def _make_cgroup(self, cfg: CgroupConfig) -> None:
        from ringleader.features.cgroups.group import Cgroup, CgroupUnavailable

        name = self._watcher.name
        try:
            self.cgroup = Cgroup.create(name, cfg, instance=self._services.cgroup_instance)
        except CgroupUnavailable as exc:
            log.warning("watcher %s runs without containment: %s", name, exc)
            return
        if self._services.guardian is not None:  # killed with us, even by SIGKILL
            self._services.guardian.add_cgroup(self.cgroup.folders())

    def spec_for(self, wid: int) -> SpawnSpec:
        """The spawn spec of slot `wid`: the template plus sockets, sd_notify, cgroup."""
        watcher, services = self._watcher, self._services
        cfg = watcher.config
        listen = (services.sockets.for_watcher(cfg.use_sockets, cfg.sockets)
                  if services.sockets is not None and cfg.use_sockets else [])
        spec = watcher.template.for_wid(wid, {s.name: s.fd for s in listen} or None)
        if cfg.stdin_socket is not None and services.sockets is not None:
            # circus stdin_socket, supervisord fcgi-program: accept() on fd 0
            spec = msgspec.structs.replace(spec, stdin_fd=services.sockets[cfg.stdin_socket].fd)
        env, argv, executable = spec.env, list(spec.argv), spec.executable
        if services.guardian is not None:
            env[GUARD_ENV] = services.guardian.token
        if cfg.events:  # what supervisord tells its children (api.supervisor_socket's URL)
            proc = watcher.processes.get(wid)
            env.update(SUPERVISOR_ENABLED="1", SUPERVISOR_SERVER_URL=services.supervisor_url(),
                       SUPERVISOR_USERNAME="", SUPERVISOR_PASSWORD="",
                       SUPERVISOR_PROCESS_NAME=proc.name if proc else watcher.name,
                       SUPERVISOR_GROUP_NAME=watcher.group or watcher.name)
        if services.notify is not None and (cfg.readiness == "notify" or cfg.watchdog_sec > 0):
            from ringleader.features.notify import child_notify_env

            child_notify_env(env, services.notify, cfg.watchdog_sec)
        if not listen and self.cgroup is None:
            return spec
        changes: dict[str, Any] = {"program": executable or argv[0]}
        if listen:
            from ringleader.features.sockets import SocketSet

            extra, changes["pass_fds"] = SocketSet.activation_env(listen)
            env.update(extra)
            argv = SocketSet.activation_argv(listen, [executable or argv[0], *argv[1:]], env)
            executable = None
        if self.cgroup is not None:
            # Joins before exec; the identity is dropped after joining (see cgroups).
            argv = self.cgroup.wrap_argv(argv, executable=executable, user=spec.uid,
                                         group=spec.gid, extra_groups=spec.extra_groups)
            executable = "/bin/sh"
            changes.update(uid=None, gid=None, extra_groups=None)
        return msgspec.structs.replace(spec, argv=tuple(argv), executable=executable,
                                       **changes)

    # -- hooks ----------------------------------------------------------------------

    def renew_hooks(self, config: WatcherConfig) -> None:
        """Hooks as `config` defines them (none: no runner)."""
        if not config.hooks:
            self.hooks = None
            return
        from ringleader.features.hook_import import search_path
        from ringleader.features.hooks import HookRunner

        search = search_path(self._services.config_dir, config.env, config.working_dir)
        self.hooks = HookRunner(self._watcher.name,
                                {str(k): v for k, v in config.hooks.items()}, search)

    async def run_hook(self, name: HookName, **extra: object) -> bool:
        """Run hook `name` (if configured); False when it failed and may abort the action."""
        watcher = self._watcher
        if self.hooks is None or name not in watcher.config.hooks:
            return True
        from ringleader.features.hooks import watcher_context

        return await self.hooks.run(name, watcher_context(watcher, env=watcher.template.env,
                                                          **extra))

    def hook_in_background(self, name: HookName, **extra: object) -> None:
        """after_spawn, before_reap, after_reap: reported, never awaited by the engine."""
        if self.hooks is None or name not in self._watcher.config.hooks:
            return
        task = self._services.loop.create_task(self._quiet_hook(name, extra))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quiet_hook(self, name: HookName, extra: dict[str, object]) -> None:
        await self.run_hook(name, **extra)

    async def extra_stats(self, stats: dict[str, Any]) -> None:
        """Adds the watcher's cgroup counters (its whole tree, read in a worker thread) and
        what its extended_stats hook returns to `stats` (None where it has neither)."""
        extended: dict[str, Any] | None = None
        if self.hooks is not None and "extended_stats" in self.hooks:
            from ringleader.features.hooks import watcher_context

            watcher = self._watcher
            extended = await self.hooks.extended_stats(watcher_context(
                watcher, env=watcher.template.env, stats=dict(stats)))
        counters: dict[str, int | float | None] | None = None
        if self.cgroup is not None:
            try:
                counters = await asyncio.to_thread(self.cgroup.stats)
            except OSError as exc:  # removed meanwhile (rm, stop)
                log.debug("watcher %s: cgroup stats: %s", stats["name"], exc)
        stats["cgroup"], stats["extended"] = counters, extended

    # -- health and drivers ---------------------------------------------------------

    def start_health(self) -> None:
        cfg = self._watcher.config.health
        if cfg is not None and self._health is None:
            from ringleader.features.health.monitor import HealthMonitor

            self._health = HealthMonitor(self._watcher, cfg)
            self._health.start()

    async def stop_health(self) -> None:
        health, self._health = self._health, None
        if health is not None:
            await health.stop()

    def start_drivers(self) -> None:
        get_sampler, cfg = self._services.sampler, self._watcher.config
        if self._drivers or get_sampler is None:
            return
        if cfg.autoscale is None and cfg.watchdog is None:
            return
        sampler = get_sampler()
        if cfg.autoscale is not None:
            from ringleader.features.drivers.autoscale import AutoscaleDriver

            self._drivers.append(AutoscaleDriver(self._watcher, sampler))
        if cfg.watchdog is not None:
            from ringleader.features.drivers.resources import ResourceWatchdogDriver

            self._drivers.append(ResourceWatchdogDriver(self._watcher, sampler))
        for driver in self._drivers:
            driver.start()

    async def stop_drivers(self) -> None:
        drivers, self._drivers = self._drivers, []
        await asyncio.gather(*(d.stop() for d in drivers))

    # -- cgroup ---------------------------------------------------------------------

    async def contain(self) -> None:
        """After the graceful stop: whatever is left in the cgroup (daemonized
        grandchildren) is killed, so nothing escapes."""
        if self.cgroup is None:
            return
        try:
            await self.cgroup.kill_all(self._watcher.config.graceful_timeout or 5.0)
        except TimeoutError:
            log.error("watcher %s: processes left in its cgroup after SIGKILL",
                      self._watcher.name)

    def apply_cgroup(self, cfg: CgroupConfig | None) -> None:
        if cfg is None:
            return  # processes stay where they are; new ones start outside (template)
        if self.cgroup is None:
            self._make_cgroup(cfg)
        else:
            self.cgroup.apply(cfg)

    async def close(self) -> None:
        """The watcher is gone for good (rm, controller stop): release its cgroup."""
        await self.stop_drivers()
        await self.stop_health()
        if self.listener is not None and self._services.event_hub is not None:
            self._services.event_hub().remove_pool(self.listener.name)
            self.listener = None
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        if self.cgroup is not None:
            await self.contain()
            try:
                self.cgroup.remove()
            except RingleaderError as exc:
                log.warning("watcher %s: %s", self._watcher.name, exc)
            else:
                if self._services.guardian is not None:
                    self._services.guardian.remove_cgroup(self.cgroup.folders())
            self.cgroup = None
