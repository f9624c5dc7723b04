"""The controller as a cluster node: the arbiter seen through the agent's
``ClusterArbiter`` seam, and the agent seen by the control API (``ClusterView``).

Imported by the daemon only when its config has a ``[cluster]`` table. A cluster watcher is
an ordinary local watcher named after its job; this adapter remembers which job owns it
and the definition the agent asked for, so that

- the agent compares its wishes with its own last words (not with the engine's normalised
  copy, which could differ in form and make every pass look like a change);
- the API shows the job in ``status`` and refuses local ``rm``/``set``/``incr``/``decr``
  of a cluster watcher (``ClusterOwned``, pointing to ``ringleader cluster``);
- the daemon keeps cluster watchers out of the state file and out of ``reloadconfig``'s
  diff (the file does not define them, and must not remove them);
- the dashboard's Cluster page (``api.dashboard.ClusterSource``) reads the overview from
  etcd over the node's own client, and drains or undrains a node through the console's
  library (``Cluster``), so that the page and ``ringleader cluster drain`` do the same.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from ringleader.api.app import ApiError
from ringleader.api.schema import ErrorCode
from ringleader.api.schema_dashboard import (
    ClusterCell,
    ClusterJobView,
    ClusterNodeView,
    ClusterOverview,
)
from ringleader.cluster import Agent, Cluster, EtcdError, OwnedWatcher
from ringleader.cluster.overview import Overview, overview
from ringleader.config.cluster import ClusterSettings
from ringleader.config.model import Config, WatcherConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import ClusterOwned, ConfigError, Conflict, NotFound

log = logging.getLogger("ringleader.cluster")


class ClusterNode:
    """``ClusterNode(arbiter, settings)``; ``start`` after the arbiter, ``stop`` after it."""

    def __init__(self, arbiter: Arbiter, settings: ClusterSettings) -> None:
        self._arbiter = arbiter
        self._owned: dict[str, tuple[str, WatcherConfig]] = {}  # name -> (job, as asked)
        self._closing = False
        self.agent = Agent(settings, self)
        # The console's library over this node's own etcd client (no second connection).
        self.cluster = Cluster(settings.etcd, prefix=settings.key_prefix,
                               client=self.agent.client)

    async def start(self) -> None:
        await self.agent.start()  # returns at once: etcd may be away, local work runs

    async def halt(self) -> None:
        """The controller is stopping: the agent stops acting (its lease stays, so the
        work does not move while the local watchers stop)."""
        self._closing = True
        await self.agent.halt()

    async def stop(self) -> None:
        """After the local watchers stopped: give the lease back, so this node's work
        moves now (never twice at once: ours are gone by then)."""
        self._closing = True
        await self.agent.stop(revoke=True)

    # -- ClusterArbiter: what the agent may do ------------------------------------------

    def owned_watchers(self) -> dict[str, OwnedWatcher]:
        found: dict[str, OwnedWatcher] = {}
        for name, (job, config) in list(self._owned.items()):
            try:
                watcher = self._arbiter.watcher(name)
            except NotFound:  # removed behind our back (the API refuses to)
                del self._owned[name]
                continue
            found[name] = OwnedWatcher(job, msgspec.structs.replace(
                config, numprocesses=watcher.numprocesses))
        return found

    def _check_open(self) -> None:
        if self._closing or self._arbiter.is_stopping:
            raise Conflict("the controller is stopping")

    async def add_owned_watcher(self, job: str, config: WatcherConfig) -> None:
        self._check_open()
        await self._arbiter.add_watcher(config, start=False)  # AlreadyExists: a local one
        self._owned[config.name] = (job, config)  # owned before it starts: rm is refused
        if config.autostart:
            await self._arbiter.start_watcher(config.name)

    async def update_owned_watcher(self, config: WatcherConfig) -> None:
        self._check_open()
        job, asked = self._owned[config.name]
        watcher = self._arbiter.watcher(config.name)
        # The one path of every config change, as reloadconfig: in place when only
        # numprocesses changed, a zero-downtime reload when active, and when stopped by an
        # operator here, the definition its next start takes.
        if msgspec.structs.replace(asked, numprocesses=config.numprocesses) == config:
            await watcher.apply_config(msgspec.structs.replace(
                watcher.config, numprocesses=config.numprocesses))
        else:
            await watcher.apply_config(config)
        self._owned[config.name] = (job, config)

    async def remove_owned_watcher(self, name: str) -> None:
        try:
            await self._arbiter.remove_watcher(name)
        finally:
            self._owned.pop(name, None)

    # -- ClusterView: what the API shows and refuses ------------------------------------

    def job_of(self, watcher: str) -> str | None:
        owned = self._owned.get(watcher)
        return owned[0] if owned is not None else None

    def refuse_local_change(self, watcher: str, verb: str) -> None:
        job = self.job_of(watcher)
        if job is not None:
            raise ClusterOwned(f"watcher {watcher!r} runs cluster job {job!r}: {verb} it "
                               f"with `ringleader cluster` (apply, scale, rm), not locally")

    def status(self) -> dict[str, Any]:
        """Shaped as the API's ClusterInfo."""
        s = self.agent.status()
        return {"node": s.node, "connected": s.connected,
                "disconnected_since": s.disconnected_since, "last_error": s.last_error,
                "scheduler": s.scheduler, "is_scheduler": s.is_scheduler,
                "advertise": self.agent.settings.advertise,
                "jobs": {job: {"assigned": j.assigned, "problem": j.problem,
                               "cut_off": j.cut_off} for job, j in s.jobs.items()}}

    # -- ClusterSource: the dashboard's Cluster page -------------------------------------

    async def overview(self) -> ClusterOverview:
        """Nodes, jobs x nodes and what is pending, as etcd has them; running counts for
        this node's own watchers (the others' are theirs to tell: None)."""
        try:
            snapshot = await self.cluster.snapshot()
        except EtcdError as exc:
            raise ApiError(ErrorCode.UNAVAILABLE,
                           f"etcd does not answer node {self.agent.node}: {exc}") from None
        watchers = []
        for name, (job, _) in list(self._owned.items()):
            try:
                watchers.append({**self._arbiter.watcher(name).status(), "job": job})
            except NotFound:  # removed while we looked
                continue
        here = {"watchers": watchers, "cluster": self.status()}
        view = overview(snapshot, self.cluster.keys.prefix, {self.agent.node: here}, {},
                        time.time())
        return _dashboard_view(view, self.agent.node, self.agent.session.connected)

    async def drain(self, node: str, by: str) -> None:
        """As ``ringleader cluster drain``: NotFound for a node that is not live."""
        try:
            await self.cluster.drain(node, f"by {by} on the dashboard of node "
                                           f"{self.agent.node}")
        except EtcdError as exc:
            raise ApiError(ErrorCode.UNAVAILABLE, f"etcd does not answer node "
                           f"{self.agent.node}: {exc}: node {node} is not drained") from None

    async def undrain(self, node: str) -> None:
        """As ``ringleader cluster undrain``: NotFound for a node that is not drained."""
        try:
            await self.cluster.undrain(node)
        except EtcdError as exc:
            raise ApiError(ErrorCode.UNAVAILABLE, f"etcd does not answer node "
                           f"{self.agent.node}: {exc}: node {node} is still drained") \
                from None

    # -- for the daemon -----------------------------------------------------------------

    def is_owned(self, name: str) -> bool:
        return name in self._owned

    def keep_in_reload(self, config: Config) -> Config:
        """``config`` (a reloaded file) plus the cluster watchers as they run, so that the
        reload leaves them alone; ConfigError when the file now defines one's name."""
        clashes = [w.name for w in config.watchers if w.name in self._owned]
        if clashes:
            raise ConfigError([f"{config.source or 'config'}: watcher {name}: the name is "
                               f"taken by cluster job {self._owned[name][0]} on this node "
                               "(rename it, or remove the job with `ringleader cluster rm`)"
                               for name in clashes])
        kept = [self._arbiter.watcher(name).config for name in self._owned]
        return msgspec.structs.replace(config, watchers=[*config.watchers, *kept])


def _dashboard_view(view: Overview, node: str, connected: bool) -> ClusterOverview:
    """The console's overview in the dashboard's shape (PROTOCOL.md)."""
    return ClusterOverview(
        enabled=True, node=node, scheduler=view.scheduler, problems=view.problems,
        nodes=[ClusterNodeView(name=n.name, health=n.health,  # type: ignore[arg-type]
                               labels=n.labels, detail=n.detail, scheduler=n.scheduler,
                               connected=connected if n.name == node else True)
               for n in view.nodes],
        jobs=[ClusterJobView(name=j.name, placement=j.placement, desired=j.desired,
                             assigned=j.assigned, pending=j.pending,
                             nodes={name: ClusterCell(running=c.running, desired=c.desired,
                                                      state=c.state, problem=c.problem)
                                    for name, c in j.nodes.items()})
               for j in view.jobs])
