"""The cluster agent inside a controller: registers the node, stands for scheduler, and
turns this node's assignments into local watchers through the arbiter.

Tasks, all on the controller's event loop:

- the session: the node's lease, kept alive at ttl/3, with ``nodes/<node>`` on it;
- a mirror of ``assignments/<node>/``: a change there (and only there) wakes the reconcile
  loop, which reads the definitions of the jobs it is assigned (``jobs/<job>`` at the
  revision the assignment names) and calls the arbiter for the difference;
- the election, which runs the scheduler while this node holds the ``scheduler`` key;
- the disconnect guard, which stops the jobs with ``stop_after_disconnect`` once the node
  has been cut off from etcd that long.

Static stability: nothing here acts on etcd's absence. Cut off, the node keeps what it
runs (the copy of its assignments does not change, so nothing is reconciled); it says since
when it is cut off, retries, and on return reads its assignments again before acting, so
what changed meanwhile (its work moved, if its lease expired) applies at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass

import msgspec

from ringleader import __version__
from ringleader.cluster.arbiter_port import ClusterArbiter
from ringleader.cluster.election import Election
from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import EtcdError
from ringleader.cluster.etcd.mirror import Mirror, RetryDelay, Signal
from ringleader.cluster.etcd.wire import Compare, PutRequest, RangeRequest, RequestOp
from ringleader.cluster.jobs import decode_job
from ringleader.cluster.keys import Keys, range_end
from ringleader.cluster.reconcile import Action, plan
from ringleader.cluster.records import Assignment, Capacity, NodeRecord, decode, encode
from ringleader.cluster.session import RegistrationRefused, Session
from ringleader.cluster.snapshot import StoredJob
from ringleader.config.cluster import ClusterSettings
from ringleader.config.model import WatcherConfig
from ringleader.errors import AlreadyExists, ConfigError, RingleaderError

log = logging.getLogger("ringleader.cluster")


@dataclass(frozen=True)
class JobState:
    """One job as this node sees it."""

    assigned: int  # processes the scheduler assigned here
    problem: str | None = None  # why it does not run as assigned, if it does not
    cut_off: bool = False  # stopped by stop_after_disconnect


@dataclass(frozen=True)
class AgentStatus:
    node: str
    connected: bool
    disconnected_since: float | None  # wall clock; None while connected
    last_error: str | None
    scheduler: str | None  # the node that schedules, as last seen
    is_scheduler: bool
    jobs: dict[str, JobState]


def _capacity() -> Capacity:
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        memory = 0
    return Capacity(cpus=os.cpu_count() or 0, memory_bytes=memory)


class Agent:
    """``async with Agent(settings, arbiter):`` runs it; ``start`` never waits for etcd."""

    def __init__(self, settings: ClusterSettings, arbiter: ClusterArbiter, *,
                 client: EtcdClient | None = None, capacity: Capacity | None = None) -> None:
        self.settings = settings
        self.node = settings.name
        self.keys = Keys(settings.key_prefix)
        self._arbiter = arbiter
        self._own_client = client is None
        self._client = client if client is not None else EtcdClient(settings.etcd)
        self._capacity = capacity if capacity is not None else _capacity()
        self._started = time.monotonic()
        self._started_wall = time.time()
        self._instance = os.urandom(8).hex()
        self._reconcile_wake = asyncio.Event()
        self._session_wake = asyncio.Event()
        self._guard_wake = asyncio.Event()
        self.reconciled = Signal()  # fires after each reconcile pass
        self.session = Session(self._client, settings.ttl, on_lease=self._register,
                               on_change=self._session_changed)
        mine = self.keys.assignments_of(self.node)
        self.assignments = Mirror(self._client, mine, range_end(mine),
                                  on_change=lambda _: self._reconcile_wake.set())
        self.election = Election(self._client, self.keys, self.node,
                                 lease=lambda: self.session.lease,
                                 settle_until=self._started + settings.settle_seconds,
                                 candidate=settings.scheduler)
        self._definitions: dict[str, StoredJob] = {}
        self._configs: dict[tuple[str, int], WatcherConfig] = {}  # (job, revision), 1 process
        self._problems: dict[str, str] = {}
        self._cut_off: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("agent already started")
        for warning in self.settings.etcd.warnings():
            log.warning("%s", warning)
        log.info("node %s joins %s through %s", self.node, self.keys.prefix,
                 ", ".join(self.settings.etcd.endpoints))
        for name, coro in (("session", self.session.run()),
                           ("assignments", self.assignments.run()),
                           ("election", self.election.run()),
                           ("reconcile", self._reconcile_loop()),
                           ("reconnect", self._session_loop()),
                           ("guard", self._guard_loop())):
            self._tasks.append(asyncio.create_task(coro, name=f"cluster-{name}"))

    async def halt(self) -> None:
        """Stop acting (reconcile, scheduling, watches) but keep the lease alive: a
        controller stopping its watchers halts first, then ``stop``s once they are gone,
        so its work moves only then and never runs in two places at once."""
        session = self._tasks[:1]
        await self._cancel(self._tasks[1:])
        self._tasks = session

    async def stop(self, *, revoke: bool = True) -> None:
        """Stop taking part. ``revoke``: give the lease back, so the node's work moves now
        (a controller that stops its watchers too); else it moves after the ttl. The local
        watchers are left to the caller."""
        tasks, self._tasks = self._tasks, []
        await self._cancel(tasks)
        if revoke:
            await self.session.revoke()
        if self._own_client:
            await self._client.close()

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in reversed(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- what the controller shows -----------------------------------------------------
    @property
    def client(self) -> EtcdClient:
        """The node's etcd client (its session's), for reads and writes on its behalf."""
        return self._client

    def status(self) -> AgentStatus:
        assigned: dict[str, int] = {}
        for kv in self.assignments.items.values():
            parsed = self.keys.parse(kv.key)
            record = decode(kv.value, Assignment)
            if parsed is not None and record is not None:
                assigned[parsed[2]] = record.count
        jobs = {job: JobState(assigned.get(job, 0), self._problems.get(job),
                              job in self._cut_off)
                for job in sorted(set(assigned) | set(self._problems) | self._cut_off)}
        return AgentStatus(node=self.node, connected=self.session.connected,
                           disconnected_since=self.session.disconnected_since,
                           last_error=self.session.last_error, scheduler=self.election.holder,
                           is_scheduler=self.election.is_scheduler, jobs=jobs)

    # -- registration and reconnection ----------------------------------------------------
    async def _register(self, lease: int) -> None:
        """``nodes/<node>`` on ``lease``, unless another live node holds the name: two
        nodes of one name would both run its assignments (RegistrationRefused, and this
        node runs none of them until it is registered)."""
        record = NodeRecord(name=self.node, api=self.settings.advertise,
                            labels=dict(self.settings.labels), version=__version__,
                            started=self._started_wall, instance=self._instance,
                            capacity=self._capacity, registered=time.time())
        key = self.keys.node(self.node)
        put = RequestOp(request_put=PutRequest(key=key, value=encode(record), lease=lease))
        response = await self._client.txn(
            [Compare(key=key, target="CREATE", create_revision=0)], [put],
            [RequestOp(request_range=RangeRequest(key=key))])
        if not response.succeeded:
            held = [kv for op in response.responses if op.response_range
                    for kv in op.response_range.kvs]
            other = decode(held[0].value, NodeRecord) if held else None
            ours = held and (held[0].lease == lease or (
                other is not None and other.instance == self._instance))
            if held and not ours:
                since = time.strftime("%H:%M:%S", time.localtime(other.started)) \
                    if other is not None else "?"
                raise RegistrationRefused(
                    f"node name {self.node} is taken by another live node (started "
                    f"{since}, API {other.api if other else '?'}): give each node its own "
                    "[cluster] name")
            response = await self._client.txn(  # ours (an earlier try), or gone meanwhile
                [Compare(key=key, target="MOD", mod_revision=held[0].mod_revision if held
                         else 0)], [put])
            if not response.succeeded:
                raise RegistrationRefused(f"node name {self.node}: its key changed under "
                                          "this registration")
        log.info("node %s registered (lease %x)", self.node, lease)

    def _session_changed(self) -> None:
        self._session_wake.set()
        self._guard_wake.set()
        self._reconcile_wake.set()  # registered (or not) any more: see _reconcile_loop
        self.election.poke()

    async def _session_loop(self) -> None:
        """Back in touch with etcd: read the assignments again before anything acts on
        them, then lift the stops of stop_after_disconnect."""
        delay = RetryDelay(initial=0.2, maximum=self.settings.ttl / 3)
        was_connected = ever_connected = False
        while True:
            await self._session_wake.wait()
            self._session_wake.clear()
            connected = self.session.connected
            if connected and not was_connected:
                if ever_connected:  # a watch may hang on a connection of before
                    self.assignments.restart()
                    self.election.restart_watches()
                ever_connected = True
                try:
                    await self.assignments.refresh()
                    await self._client.sync_members()
                except EtcdError as exc:
                    log.info("assignments not read again yet (%s)", exc)
                    await asyncio.sleep(delay.next())
                    self._session_wake.set()
                    continue
                delay.reset()
                if self._cut_off:
                    log.info("back in touch: jobs %s may run again where still "
                             "assigned", ", ".join(sorted(self._cut_off)))
                    self._cut_off.clear()
                self._reconcile_wake.set()
            was_connected = connected

    async def _guard_loop(self) -> None:
        while True:
            self._guard_wake.clear()
            wait = self._next_cut_off()
            try:
                async with asyncio.timeout(wait):
                    await self._guard_wake.wait()
            except TimeoutError:
                self._cut_jobs_due()

    def _stop_after(self) -> dict[str, float]:
        """Owned jobs with stop_after_disconnect -> that many seconds."""
        owned = {w.job for w in self._arbiter.owned_watchers().values()}
        return {job: stored.job.stop_after_disconnect
                for job, stored in self._definitions.items()
                if job in owned and stored.job.stop_after_disconnect is not None}

    def _next_cut_off(self) -> float | None:
        if self.session.connected:
            return None
        base = self.session.last_contact or self._started
        due = [base + s for job, s in self._stop_after().items() if job not in self._cut_off]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _cut_jobs_due(self) -> None:
        base = self.session.last_contact or self._started
        now = time.monotonic()
        for job, seconds in sorted(self._stop_after().items()):
            if job not in self._cut_off and base + seconds <= now:
                log.warning("job %s stopped: cut off from etcd for %g s "
                            "(stop_after_disconnect)", job, seconds)
                self._cut_off.add(job)
                self._reconcile_wake.set()

    # -- reconcile ---------------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        while True:
            await self._reconcile_wake.wait()
            self._reconcile_wake.clear()
            if not self.assignments.revision or self.session.lease is None:
                # never read, or not registered (yet, or the name is another node's):
                # what runs stays as it is, nothing of these assignments starts
                continue
            try:
                await self._reconcile()
            except Exception:  # a bug must not end the agent: say it, try at the next change
                log.exception("reconcile failed")
            self.reconciled.fire()

    async def _reconcile(self) -> None:
        owned = self._arbiter.owned_watchers()
        running = {w.job: w.config for w in owned.values()}
        desired: dict[str, WatcherConfig] = {}
        for kv in list(self.assignments.items.values()):
            parsed = self.keys.parse(kv.key)
            if parsed is None or parsed[0] != "assignment":
                continue
            job = parsed[2]
            record = decode(kv.value, Assignment)
            config = await self._config(job, record) if record is not None else None
            if config is None:
                if job in running:  # cannot say better now: leave it as it runs
                    desired[job] = running[job]
                continue
            count = 0 if job in self._cut_off or record is None else record.count
            desired[job] = msgspec.structs.replace(config, numprocesses=count)
        assigned = {p[2] for kv in self.assignments.items.values()
                    if (p := self.keys.parse(kv.key)) is not None}
        for job in set(self._problems) - assigned:  # old news: the job left this node
            del self._problems[job]
        for action in plan(desired, owned):
            await self._carry_out(action)

    async def _config(self, job: str, assignment: Assignment) -> WatcherConfig | None:
        """The watcher of ``job`` at (at least) the assigned revision, for one process;
        None when it cannot be had now (etcd away, job gone, refused here)."""
        stored = self._definitions.get(job)
        if stored is None or stored.revision < assignment.job_revision:
            try:
                kv = await self._client.get(self.keys.job(job))
            except EtcdError as exc:
                log.info("job %s not read (%s)", job, exc)
                return None
            if kv is None:
                return None  # removed: its assignment goes next
            try:
                stored = StoredJob(decode_job(kv.value, job), kv.mod_revision)
            except ConfigError as exc:
                self._problem(job, "; ".join(exc.problems))
                return None
            self._definitions[job] = stored
        key = (job, stored.revision)
        config = self._configs.get(key)
        if config is None:
            try:
                config = stored.job.watcher_config(1)
            except ConfigError as exc:
                self._problem(job, "refused on this node: " + "; ".join(exc.problems))
                return None
            self._configs = {k: v for k, v in self._configs.items() if k[0] != job}
            self._configs[key] = config
        return config

    async def _carry_out(self, action: Action) -> None:
        log.info("%s (job %s)", action.describe(), action.job)
        try:
            if action.kind == "remove":
                await self._arbiter.remove_owned_watcher(action.name)
                self._definitions.pop(action.job, None)
            elif action.kind == "update":
                assert action.config is not None
                await self._arbiter.update_owned_watcher(action.config)
            else:
                assert action.config is not None
                await self._arbiter.add_owned_watcher(action.job, action.config)
        except AlreadyExists:
            self._problem(action.job, f"a local watcher is named {action.name}: the job "
                          "does not run here")
            return
        except RingleaderError as exc:
            self._problem(action.job, f"{action.describe()} failed: {exc}")
            return
        self._problems.pop(action.job, None)

    def _problem(self, job: str, text: str) -> None:
        if self._problems.get(job) != text:
            log.error("job %s: %s", job, text)
        self._problems[job] = text
