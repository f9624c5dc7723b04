"""An in-memory arbiter implementing the agent's ``ClusterArbiter`` seam (the real arbiter
comes in phase 2): it keeps the watchers' configs and a log of every call."""

from __future__ import annotations

import msgspec

from ringleader.cluster.arbiter_port import OwnedWatcher
from ringleader.config.model import WatcherConfig
from ringleader.errors import AlreadyExists, NotFound


class FakeArbiter:
    def __init__(self, local: tuple[str, ...] = ()) -> None:
        self.watchers: dict[str, OwnedWatcher] = {}
        self.local = set(local)  # names of watchers the cluster does not own
        self.calls: list[tuple[str, str, int]] = []  # (verb, name, numprocesses)

    def owned_watchers(self) -> dict[str, OwnedWatcher]:
        return dict(self.watchers)

    async def add_owned_watcher(self, job: str, config: WatcherConfig) -> None:
        if config.name in self.watchers or config.name in self.local:
            raise AlreadyExists(f"a watcher named {config.name!r} already exists")
        self.watchers[config.name] = OwnedWatcher(job, config)
        self.calls.append(("add", config.name, config.numprocesses))

    async def update_owned_watcher(self, config: WatcherConfig) -> None:
        current = self.watchers.get(config.name)
        if current is None:
            raise NotFound(config.name)
        same = msgspec.structs.replace(current.config, numprocesses=config.numprocesses)
        self.calls.append(("scale" if same == config else "replace", config.name,
                           config.numprocesses))
        self.watchers[config.name] = OwnedWatcher(current.job, config)

    async def remove_owned_watcher(self, name: str) -> None:
        if self.watchers.pop(name, None) is None:
            raise NotFound(name)
        self.calls.append(("remove", name, 0))

    def count(self, job: str) -> int:
        watcher = self.watchers.get(job)
        return watcher.config.numprocesses if watcher is not None else 0
