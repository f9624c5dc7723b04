"""What every watcher and process of one Arbiter shares, how the Arbiter builds it, and
the checks it makes of what it is asked for (names, counts, max_processes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

from ringleader.config.model import WatcherConfig
from ringleader.config.runnable import process_total
from ringleader.errors import AlreadyExists, BadArgument, LimitExceeded
from ringleader.lifecycle.events import EventBus
from ringleader.lifecycle.views import WatcherView
from ringleader.output.streams import StreamHub
from ringleader.proc.guardian import Guardian
from ringleader.proc.reaper import Reaper

if TYPE_CHECKING:
    from ringleader.features.listeners import EventHub
    from ringleader.features.notify import NotifySocket
    from ringleader.features.sockets import SocketSet
    from ringleader.features.stats import StatsSampler

log = logging.getLogger("ringleader.arbiter")

class Services(msgspec.Struct, frozen=True):
    """What every process of an arbiter shares (built once by the Arbiter)."""

    loop: asyncio.AbstractEventLoop
    bus: EventBus
    reaper: Reaper
    guardian: Guardian | None
    hub: StreamHub
    clock: Callable[[], float] = time.monotonic
    # Raises LimitExceeded when watcher `name` may not grow to `count` processes.
    capacity: Callable[[str, int], None] = lambda name, count: None
    sampler: Callable[[], StatsSampler] | None = None  # made on first use
    sockets: SocketSet | None = None
    notify: NotifySocket | None = None
    cgroup_instance: str = ""
    # The config file's folder: Python hooks are looked for there first.
    config_dir: str | None = None
    # supervisord events for event listener pools: built at its first use
    event_hub: Callable[[], EventHub] | None = None
    # SUPERVISOR_SERVER_URL of event listeners: the listeners' XML-RPC socket, once open
    supervisor_url: Callable[[], str] = lambda: ""

    def own_pids(self) -> set[int]:
        """Every child the reaper waits for, and the guardian."""
        pids = self.reaper.pids  # the guardian included
        if self.guardian is not None and self.guardian.pid is not None:
            pids.add(self.guardian.pid)
        return pids


def check_total(configs: Iterable[WatcherConfig], limit: int) -> None:
    """LimitExceeded when the watchers together ask for more than `limit` processes."""
    total = process_total(configs)
    if total > limit:
        raise LimitExceeded(f"the watchers ask for {total} processes, more than "
                            f"max_processes = {limit}")


def check_unique(configs: Sequence[WatcherConfig]) -> None:
    """AlreadyExists when two watchers have the same name."""
    names = [w.name for w in configs]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise AlreadyExists(f"duplicate watcher names: {', '.join(dupes)}")


def check_capacity(watchers: Iterable[WatcherView], name: str, count: int, limit: int) -> None:
    """LimitExceeded when watcher `name` may not grow to `count` processes: with those of
    the other `watchers`, more than `limit` (max_processes)."""
    others = sum(w.numprocesses for w in watchers if w.name != name)
    if others + count > limit:
        raise LimitExceeded(
            f"{name!r} cannot have {count} processes: with the {others} of the other "
            f"watchers that is more than max_processes = {limit}")


def checked_count(value: object) -> int:
    """A number of processes as a caller gave it: TypeError if not an int, BadArgument
    if negative."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"count must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise BadArgument(f"count must be >= 0, got {value}")
    return value


def cgroup_instance(configs: Iterable[WatcherConfig]) -> str:
    """This controller's level in the cgroup tree, so that two never share a cgroup."""
    if not any(c.cgroup is not None for c in configs):
        return ""
    from ringleader.features.cgroups.discovery import new_instance

    return new_instance()


async def sweep_cgroups(configs: Iterable[WatcherConfig]) -> None:
    """Before making our cgroups: empty and remove those that dead controllers left
    under the same parents (see features.cgroups.sweep)."""
    parents = sorted({c.cgroup.parent for c in configs if c.cgroup is not None})
    if not parents:
        return
    from ringleader.features.cgroups.sweep import sweep_stale

    for parent in parents:
        for note in await sweep_stale(parent):
            log.warning("%s", note)


_NOFILE_WANTED = 65536


def raise_nofile_limit() -> None:
    # Each worker costs the controller up to three fds (pidfd + two pipes). Capped, as
    # children inherit it and some programs still close every fd up to the limit.
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = _NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(hard, _NOFILE_WANTED)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
