"""An asyncio etcd v3 client over the JSON gateway: several endpoints with failover, a
deadline on every call, TLS, user/password auth with token renewal.

Why not gRPC: grpcio adds about 20 MB and 7 threads to a controller whose footprint is a
selling point and warns about fork; the one asyncio gRPC client (aetcd) has no TLS, one
endpoint, no keepalive loop and no watch resume. etcd >= 3.4 serves the same API as JSON on
its client port, which needs only h11 (already a dependency).

Every call has one deadline (``EtcdSettings.timeout`` unless given) shared by the endpoints
it tries: it starts with the endpoint that answered last, and moves on when one refuses,
breaks, has no leader or is slow (each gets an even share of what is left). Requests carry
``hasleader`` metadata, so a member cut off from its leader fails fast instead of hanging.
A transaction is retried elsewhere only when it was not sent: its outcome is otherwise
unknown. Auth tokens are per member (etcd's simple tokens are) and renewed when etcd calls
them invalid.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import msgspec

from ringleader.cluster.etcd import wire
from ringleader.cluster.etcd.auth import Tokens
from ringleader.cluster.etcd.errors import (
    TOKEN_INVALID,
    EtcdAuthError,
    EtcdCompacted,
    EtcdError,
    EtcdTimeout,
    EtcdUnreachable,
    TokenInvalid,
    TryElsewhere,
    raise_for,
)
from ringleader.cluster.etcd.http import (
    ConnectionLost,
    Endpoint,
    EndpointPool,
    HttpConnection,
    TlsRefused,
)
from ringleader.cluster.etcd.http import parse_endpoint as parse_url
from ringleader.cluster.etcd.wire import KeyValue, error_of

if TYPE_CHECKING:
    import ssl

    from ringleader.config.cluster import EtcdSettings

log = logging.getLogger("ringleader.cluster.etcd")
R = TypeVar("R")


class EtcdClient:
    """An etcd connection for one process. ``async with EtcdClient(settings) as etcd:``."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self._configured = settings.parsed_endpoints()
        self._endpoints = list(self._configured)
        self._current = 0
        self._ssl: ssl.SSLContext | None = None
        if any(e.scheme == "https" for e in self._configured):
            from ringleader.cluster.etcd.tls import client_context

            self._ssl = client_context(settings.ca_file, settings.cert_file, settings.key_file)
        self._pools: dict[Endpoint, EndpointPool] = {}
        self._tokens = Tokens(settings.user, settings.password)
        self._streams: set[HttpConnection] = set()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        for conn in list(self._streams):
            conn.close()

    @property
    def endpoints(self) -> list[str]:
        """The endpoints in use, configured first then discovered."""
        return [e.url for e in self._endpoints]

    # -- the unary calls -------------------------------------------------------------
    async def range(self, key: bytes, range_end: bytes = b"", *, revision: int = 0,
                    limit: int = 0, keys_only: bool = False,
                    timeout: float | None = None) -> wire.RangeResponse:
        """Keys in [key, range_end) (just ``key`` without range_end), as of ``revision``."""
        req = wire.RangeRequest(key=key, range_end=range_end, revision=revision, limit=limit,
                                keys_only=keys_only)
        return await self._call("/v3/kv/range", req, wire.RangeResponse, timeout=timeout)

    async def get(self, key: bytes, *, timeout: float | None = None) -> KeyValue | None:
        kvs = (await self.range(key, timeout=timeout)).kvs
        return kvs[0] if kvs else None

    async def range_all(self, key: bytes, range_end: bytes, *, page: int = 1000,
                        timeout: float | None = None) -> tuple[list[KeyValue], int]:
        """Every key of a range at one revision, read in pages; (kvs, revision)."""
        first = await self.range(key, range_end, limit=page, timeout=timeout)
        kvs, revision = list(first.kvs), first.header.revision
        more = first.more
        while more and kvs:
            nxt = await self.range(kvs[-1].key + b"\0", range_end, revision=revision,
                                   limit=page, timeout=timeout)
            kvs.extend(nxt.kvs)
            more = nxt.more
        return kvs, revision

    async def put(self, key: bytes, value: bytes, *, lease: int = 0,
                  timeout: float | None = None) -> int:
        """Store; the store's revision after it."""
        req = wire.PutRequest(key=key, value=value, lease=lease)
        resp = await self._call("/v3/kv/put", req, wire.PutResponse, timeout=timeout)
        return resp.header.revision

    async def delete(self, key: bytes, range_end: bytes = b"", *,
                     timeout: float | None = None) -> int:
        """Delete [key, range_end); how many keys were deleted."""
        req = wire.DeleteRangeRequest(key=key, range_end=range_end)
        resp = await self._call("/v3/kv/deleterange", req, wire.DeleteRangeResponse,
                                timeout=timeout)
        return resp.deleted

    async def txn(self, compare: list[wire.Compare], success: list[wire.RequestOp],
                  failure: list[wire.RequestOp] | None = None, *,
                  timeout: float | None = None) -> wire.TxnResponse:
        """All of ``compare`` true: run ``success``, else ``failure``; atomically."""
        req = wire.TxnRequest(compare=compare, success=success, failure=failure or [])
        return await self._call("/v3/kv/txn", req, wire.TxnResponse, timeout=timeout,
                                retry_sent=False)

    async def lease_grant(self, ttl: int, *, timeout: float | None = None) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        resp = await self._call("/v3/lease/grant", wire.LeaseGrantRequest(ttl=ttl),
                                wire.LeaseGrantResponse, timeout=timeout)
        if resp.error:
            raise EtcdError(f"etcd: lease grant refused: {resp.error}")
        return resp.id

    async def lease_keepalive(self, lease: int, *, timeout: float | None = None) -> int:
        """Renew once; the seconds left, 0 when the lease is gone."""
        msg = await self._call("/v3/lease/keepalive", wire.LeaseIdRequest(id=lease),
                               wire.KeepAliveMessage, timeout=timeout, streamed=True)
        return msg.result.ttl if msg.result else 0

    async def lease_revoke(self, lease: int, *, timeout: float | None = None) -> None:
        """Revoke: every key attached to the lease is deleted now."""
        await self._call("/v3/lease/revoke", wire.LeaseIdRequest(id=lease),
                         wire.HeaderResponse, timeout=timeout)

    async def member_list(self, *, timeout: float | None = None) -> list[wire.Member]:
        resp = await self._call("/v3/cluster/member/list", wire.Empty(),
                                wire.MemberListResponse, timeout=timeout)
        return resp.members

    async def sync_members(self) -> None:
        """Add the members' client URLs to the endpoints (configured ones stay first);
        nothing when ``discover_members`` is off or on any error."""
        if not self.settings.discover_members:
            return
        try:
            members = await self.member_list()
        except EtcdError as exc:
            log.debug("member list not refreshed: %s", exc)
            return
        schemes = {e.scheme for e in self._configured}
        found: list[Endpoint] = []
        for member in members:
            for url in member.client_urls:
                try:
                    ep = parse_url(url)
                except ValueError:
                    continue
                if ep.scheme in schemes and ep not in self._configured and ep not in found:
                    found.append(ep)
        current = self._endpoints[self._current]
        self._endpoints = self._configured + found
        self._current = self._endpoints.index(current) if current in self._endpoints else 0

    # -- watch -----------------------------------------------------------------------
    async def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int,
                    progress_notify: bool = True) -> AsyncIterator[wire.WatchResponse]:
        """Events on [key, range_end) from ``start_revision`` on, as etcd batches them,
        after a first ``created`` answer; a later answer without events is a progress
        notification (every event up to ``header.revision`` was sent).
        Ends only by raising: EtcdCompacted (read again), EtcdUnavailable (resume from the
        last revision seen), EtcdAuthError."""
        body = wire.encode(wire.WatchRequest(create_request=wire.WatchCreateRequest(
            key=key, range_end=range_end, start_revision=start_revision,
            progress_notify=progress_notify)))
        conn, lines, created = await self._attempts(
            lambda ep: self._open_watch(ep, body), None, retry_sent=True)
        self._streams.add(conn)
        try:
            yield created
            async for line in lines:
                yield self._watch_result(conn.endpoint, line)
        except ConnectionLost as exc:
            raise EtcdUnreachable(f"etcd watch on {conn.endpoint}: {exc}") from None
        except TokenInvalid:
            self._tokens.forget(conn.endpoint)
            raise EtcdUnreachable(f"etcd watch on {conn.endpoint}: {TOKEN_INVALID}") from None
        finally:
            self._streams.discard(conn)
            conn.close()

    async def _open_watch(self, ep: Endpoint, body: bytes
                          ) -> tuple[HttpConnection, AsyncIterator[bytes], wire.WatchResponse]:
        for attempt in (1, 2):
            conn = await self._pool(ep).acquire(fresh=True)
            try:
                status, lines = await conn.stream("/v3/watch", body, await self._headers(ep))
                first = await anext(lines, b"")
                if status != 200:
                    raise_for(*error_of(status, first))
                return conn, lines, self._watch_result(ep, first)
            except TokenInvalid:
                conn.close()
                self._tokens.forget(ep)
                if attempt == 2:
                    raise TryElsewhere(f"{ep}: {TOKEN_INVALID}") from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _watch_result(self, ep: Endpoint, line: bytes) -> wire.WatchResponse:
        try:
            msg = wire.decode(line, wire.WatchMessage)
        except Exception:
            raise EtcdUnreachable(f"etcd watch on {ep}: unexpected answer "
                                  f"{line[:200]!r}") from None
        if msg.error is not None:
            raise_for(msg.error.grpc_code, msg.error.message)
        result = msg.result
        if result is None:
            raise EtcdUnreachable(f"etcd watch on {ep}: empty answer")
        if result.canceled:
            reason = result.cancel_reason
            if result.compact_revision:
                raise EtcdCompacted(f"etcd: revision compacted (oldest kept: "
                                    f"{result.compact_revision})", result.compact_revision)
            if TOKEN_INVALID in reason:
                raise TokenInvalid()
            if "PermissionDenied" in reason or "Unauthenticated" in reason:
                raise EtcdAuthError(f"etcd refused the watch: {reason.rpartition('desc = ')[2]}")
            raise EtcdUnreachable(f"etcd watch on {ep} canceled: {reason or 'no reason'}")
        return result

    # -- the machinery ---------------------------------------------------------------
    def _pool(self, ep: Endpoint) -> EndpointPool:
        pool = self._pools.get(ep)
        if pool is None:
            pool = self._pools[ep] = EndpointPool(ep, self._ssl)
        return pool

    async def _headers(self, ep: Endpoint) -> list[tuple[str, str]]:
        headers = [("Grpc-Metadata-hasleader", "true")]
        token = await self._tokens.get(ep, self._pool(ep))
        if token:
            headers.append(("Authorization", token))
        return headers

    async def _call(self, path: str, request: msgspec.Struct, kind: type[R], *,
                    timeout: float | None, retry_sent: bool = True,
                    streamed: bool = False) -> R:
        body = wire.encode(request)

        async def on(ep: Endpoint) -> R:
            for attempt in (1, 2):
                try:
                    return await self._once(ep, path, body, kind, streamed=streamed,
                                            fresh=not retry_sent)
                except TokenInvalid:
                    self._tokens.forget(ep)  # renew it, once
                    if attempt == 2:
                        raise TryElsewhere(TOKEN_INVALID) from None
            raise AssertionError("unreachable")

        return await self._attempts(on, timeout, retry_sent=retry_sent)

    async def _once(self, ep: Endpoint, path: str, body: bytes, kind: type[R], *,
                    streamed: bool, fresh: bool) -> R:
        pool = self._pool(ep)
        conn = await pool.acquire(fresh=fresh)
        try:
            status, data = await conn.request(path, body, await self._headers(ep))
        except BaseException:
            conn.close()
            raise
        pool.release(conn)
        if status != 200:
            raise_for(*error_of(status, data))
        if streamed:  # one '{"result": ...}' or '{"error": {...}}' message
            data = data.strip().split(b"\n", 1)[0]
            error = wire.decode(data, wire.WatchMessage).error
            if error is not None:
                raise_for(error.grpc_code, error.message)
        try:
            return wire.decode(data, kind)
        except Exception as exc:
            raise EtcdError(f"etcd at {ep}: unexpected answer to {path}: {exc}") from None

    async def _attempts(self, call: Callable[[Endpoint], Awaitable[R]], timeout: float | None,
                        *, retry_sent: bool) -> R:
        """``call`` on each endpoint in turn (the last good one first) until one answers
        or the deadline passes."""
        loop = asyncio.get_running_loop()
        total = self.settings.timeout if timeout is None else timeout
        deadline = loop.time() + total
        order = self._endpoints[self._current:] + self._endpoints[:self._current]
        failures: list[str] = []
        timed_out = False
        tls_refused = 0
        for index, ep in enumerate(order):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining / (len(order) - index)):
                    result = await call(ep)
            except TimeoutError:
                timed_out = True
                failures.append(f"{ep}: no answer")
                if not retry_sent:
                    raise EtcdTimeout(f"etcd at {ep} gave no answer within the timeout "
                                      "(the transaction may or may not have been applied)"
                                      ) from None
                continue
            except ConnectionLost as exc:
                failures.append(f"{ep}: {exc}")
                tls_refused += isinstance(exc, TlsRefused)
                if exc.sent and not retry_sent:
                    raise EtcdUnreachable(f"etcd at {ep}: {exc} (the transaction may or may "
                                          "not have been applied)") from None
                continue
            except TryElsewhere as exc:
                failures.append(f"{ep}: {exc}")
                continue
            self._current = self._endpoints.index(ep) if ep in self._endpoints else 0
            return result
        detail = "; ".join(failures) or "no time left"
        if failures and tls_refused == len(failures):
            raise EtcdAuthError(f"etcd refused TLS ({detail}); check ca_file, cert_file and "
                                "key_file")
        if timed_out:
            raise EtcdTimeout(f"etcd gave no answer within {total:g} s ({detail})")
        raise EtcdUnreachable(f"cannot reach etcd ({detail})")

