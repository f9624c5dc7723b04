"""What a watcher carries beyond its processes: the spawn wrappers (shared sockets,
sd_notify, cgroup), hooks, health checks and the periodic drivers (auto-scaling, resource
watchdog). A mixin of Watcher, kept apart so that the watcher module stays about the
lifecycle of its processes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Protocol, cast

from ringleader.config.features import CgroupConfig, HookName
from ringleader.config.model import WatcherConfig
from ringleader.core.process import Services
from ringleader.errors import RingleaderError
from ringleader.lifecycle.events import EventBus
from ringleader.proc.spawn import SpawnSpec, SpawnTemplate

if TYPE_CHECKING:
    from ringleader.core.cgroups import Cgroup
    from ringleader.core.hooks import HookRunner
    from ringleader.core.watcher import Watcher

log = logging.getLogger("ringleader.watcher")


class Driver(Protocol):
    """A periodic helper of a running watcher (auto-scaling, resource watchdog, health)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class WatcherFeatures:
    """The feature wiring of Watcher (which owns these attributes)."""

    __slots__ = ("_background", "_drivers", "_health", "cgroup", "hooks")
    name: str
    config: WatcherConfig
    template: SpawnTemplate
    _services: Services

    def _init_features(self, config: WatcherConfig) -> None:
        self._drivers: list[Driver] = []
        self._health: Driver | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.hooks: HookRunner | None = None
        if config.hooks:
            from ringleader.core.hooks import HookRunner

            self.hooks = HookRunner(self.name, {str(k): v for k, v in config.hooks.items()})
        self.cgroup: Cgroup | None = None
        if config.cgroup is not None:
            self._make_cgroup(config.cgroup)

    @property
    def _watcher(self) -> Watcher:
        return cast("Watcher", self)

    @property
    def is_active(self) -> bool:
        raise NotImplementedError

    @property
    def bus(self) -> EventBus:
        return self._services.bus

    def _make_cgroup(self, cfg: CgroupConfig) -> None:
        from ringleader.core.cgroups import Cgroup, CgroupUnavailable

        try:
            self.cgroup = Cgroup.create(self.name, cfg, instance=self._services.cgroup_instance)
        except CgroupUnavailable as exc:
            log.warning("watcher %s runs without containment: %s", self.name, exc)

    def spec_for(self, wid: int) -> SpawnSpec:
        cfg, services = self.config, self._services
        listen = (services.sockets.for_watcher(cfg.use_sockets, cfg.sockets)
                  if services.sockets is not None and cfg.use_sockets else [])
        spec = self.template.for_wid(wid, {s.name: s.fd for s in listen} or None)
        env, argv, executable = spec.env, list(spec.argv), spec.executable
        if services.notify is not None and (cfg.readiness == "notify" or cfg.watchdog_sec > 0):
            from ringleader.core.notify import child_notify_env

            child_notify_env(env, services.notify, cfg.watchdog_sec)
        if not listen and self.cgroup is None:
            return spec
        changes: dict[str, Any] = {"program": executable or argv[0]}
        if listen:
            from ringleader.core.sockets import SocketSet

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
        return dataclasses.replace(spec, argv=tuple(argv), executable=executable, **changes)

    # -- hooks ----------------------------------------------------------------------

    async def run_hook(self, name: HookName, **extra: object) -> bool:
        """Run hook `name` (if configured); False when it failed and may abort the action."""
        if self.hooks is None or name not in self.config.hooks:
            return True
        from ringleader.core.hooks import watcher_context

        return await self.hooks.run(name, watcher_context(self._watcher, env=self.template.env,
                                                          **extra))

    def hook_in_background(self, name: HookName, **extra: object) -> None:
        """after_spawn, before_reap, after_reap: reported, never awaited by the engine."""
        if self.hooks is None or name not in self.config.hooks:
            return
        task = self._services.loop.create_task(self._quiet_hook(name, extra))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quiet_hook(self, name: HookName, extra: dict[str, object]) -> None:
        await self.run_hook(name, **extra)

    def _start_health(self) -> None:
        if self.config.health is not None and self._health is None:
            from ringleader.core.health import HealthMonitor

            self._health = HealthMonitor(self._watcher, self.config.health)
            self._health.start()

    async def _stop_health(self) -> None:
        health, self._health = self._health, None
        if health is not None:
            await health.stop()

    def _start_drivers(self) -> None:
        services, cfg = self._services, self.config
        if self._drivers or services.sampler is None:
            return
        if cfg.autoscale is not None:
            from ringleader.core.autoscaler import AutoscaleDriver

            self._drivers.append(AutoscaleDriver(self._watcher, services.sampler))
        if cfg.watchdog is not None:
            from ringleader.core.resource_watchdog import ResourceWatchdogDriver

            self._drivers.append(ResourceWatchdogDriver(self._watcher, services.sampler))
        for driver in self._drivers:
            driver.start()

    async def _stop_drivers(self) -> None:
        drivers, self._drivers = self._drivers, []
        await asyncio.gather(*(d.stop() for d in drivers))

    async def _contain(self) -> None:
        """After the graceful stop: whatever is left in the cgroup (daemonized
        grandchildren) is killed, so nothing escapes."""
        if self.cgroup is None:
            return
        try:
            await self.cgroup.kill_all(self.config.graceful_timeout or 5.0)
        except TimeoutError:
            log.error("watcher %s: processes left in its cgroup after SIGKILL", self.name)

    async def close(self) -> None:
        """The watcher is gone for good (rm, controller stop): release its cgroup."""
        await self._stop_drivers()
        await self._stop_health()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        if self.cgroup is not None:
            await self._contain()
            try:
                self.cgroup.remove()
            except RingleaderError as exc:
                log.warning("watcher %s: %s", self.name, exc)
            self.cgroup = None

    def _apply_cgroup(self, cfg: CgroupConfig | None) -> None:
        if cfg is None:
            return  # processes stay where they are; new ones start outside (template)
        if self.cgroup is None:
            self._make_cgroup(cfg)
        else:
            self.cgroup.apply(cfg)

