"""This node's lease in etcd: granted, registered on, kept alive at ttl/3, re-granted when
lost. It is also the agent's heartbeat: whether etcd answers, and since when it does not.

A keepalive that fails (etcd down, no quorum, cut off) marks the session disconnected with
the time of the last contact; it is retried soon, then less often, up to every ttl/3, with
the same lease: when etcd comes back within the ttl (or restarts: etcd renews every lease on
a leader change) nothing expired and nothing moves. A lease etcd no longer knows is replaced
by a new one and ``on_lease`` runs again (the agent registers the node on it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import EtcdAuthError, EtcdError, EtcdLeaseNotFound
from ringleader.cluster.etcd.mirror import RetryDelay

log = logging.getLogger("ringleader.cluster")


class RegistrationRefused(EtcdError):
    """The node cannot register: another live node holds its name (retried: the other may
    be this node's previous run, whose lease has not expired yet)."""


class Session:
    """``run`` until cancelled; read ``lease``, ``connected``, ``last_contact``."""

    def __init__(self, client: EtcdClient, ttl: int, *,
                 on_lease: Callable[[int], Awaitable[None]],
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.ttl = ttl
        self.lease: int | None = None  # granted, and ``on_lease`` done with it
        self.connected = False
        self.last_contact: float | None = None  # monotonic time of the last answer
        self.disconnected_since: float | None = None  # wall clock, for status and metrics
        self.last_error: str | None = None
        self._client = client
        self._on_lease = on_lease
        self._changed = on_change  # called when connected, lease or last_error change
        self._granted: int | None = None
        self._interval = ttl / 3
        self._delay = RetryDelay(initial=0.2, maximum=self._interval)

    async def run(self) -> None:
        while True:
            try:
                await self._step()
            except EtcdLeaseNotFound:
                self._lease_lost("etcd no longer knows it")
                continue
            except EtcdError as exc:
                self._failed(exc)
                await asyncio.sleep(self._delay.next())
                continue
            await asyncio.sleep(self._interval)

    async def _step(self) -> None:
        timeout = min(self._interval, self._client.settings.timeout)
        if self._granted is None:
            self._granted = await self._client.lease_grant(self.ttl, timeout=timeout)
        if self.lease is None:
            await self._on_lease(self._granted)
            self.lease = self._granted
            self._changed()
        left = await self._client.lease_keepalive(self._granted, timeout=timeout)
        if left <= 0:
            raise EtcdLeaseNotFound("lease expired")
        self._contact()

    def _contact(self) -> None:
        self.last_contact = time.monotonic()
        self._delay.reset()
        if not self.connected:
            if self.disconnected_since is not None:
                log.info("etcd reachable again (cut off for %.1f s)",
                         time.time() - self.disconnected_since)
            self.connected = True
            self.disconnected_since = None
            self.last_error = None
            self._changed()

    def _failed(self, exc: EtcdError) -> None:
        reason = str(exc)
        if isinstance(exc, RegistrationRefused) and reason != self.last_error:
            log.error("%s (local watchers keep running; retrying)", reason)
        elif self.connected or reason != self.last_error:
            level = logging.ERROR if isinstance(exc, EtcdAuthError) else logging.WARNING
            log.log(level, "etcd unreachable, local watchers keep running; "
                    "retrying: %s", reason)
        if self.connected or self.disconnected_since is None:
            self.disconnected_since = time.time()
        self.connected = False
        self.last_error = reason
        self._changed()

    def _lease_lost(self, why: str) -> None:
        log.warning("this node's lease is gone (%s): registering again", why)
        self._granted = None
        self.lease = None
        self._changed()

    async def revoke(self, timeout: float = 1.0) -> None:
        """Give the lease back (a clean stop): the node's keys go at once, so its work
        moves now rather than after the ttl. Best effort."""
        lease, self._granted, self.lease = self._granted, None, None
        if lease is not None:
            try:
                await self._client.lease_revoke(lease, timeout=timeout)
            except EtcdError as exc:
                log.info("lease not revoked (%s); it expires in %d s", exc, self.ttl)
