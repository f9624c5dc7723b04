"""The nodes' control APIs as the cluster console reaches them: HTTPS to the address each
node advertises in etcd, with the console's own credentials (a bearer token and/or a client
certificate; never stored in etcd), one deadline per call, JSON answers and Server-Sent
Event streams.

Reads (GET) reuse an idle connection to the node when there is one (a dashboard or a
script asking for ``status`` again pays no TLS handshake), and are tried once more on a
fresh connection when a reused one turns out closed; anything else opens a connection of
its own, so that a change is never sent twice. A connection a call gave up on (timeout,
error) is closed, never reused half-read.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ringleader.cluster.etcd.http import ConnectionLost, EndpointPool, HttpConnection
from ringleader.config.cluster import Endpoint, parse_endpoint
from ringleader.errors import ConfigError, RingleaderError

if TYPE_CHECKING:
    import ssl

Query = Mapping[str, str | int | float | Sequence[str]]


@dataclass(frozen=True)
class NodeCredentials:
    """How the console proves itself to the nodes' TLS listeners, and how long it waits
    for one node (``timeout``, per call)."""

    token: str | None = None
    cafile: str | None = None  # verifies the nodes' certificates (default: the system's)
    certfile: str | None = None  # a client certificate instead of (or with) the token
    keyfile: str | None = None
    timeout: float = 5.0

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return (f"NodeCredentials(token={'***' if self.token else None}, "
                f"cafile={self.cafile!r}, certfile={self.certfile!r}, "
                f"keyfile={self.keyfile!r}, timeout={self.timeout!r})")


class NodeError(RingleaderError):
    """One node did not do what was asked: unreachable, slow, or it refused (``code`` is
    then its API's error code, e.g. ``not_found``, ``not_ready``)."""

    def __init__(self, node: str, reason: str, code: str = "unreachable") -> None:
        super().__init__(f"node {node}: {reason}")
        self.node = node
        self.reason = reason
        self.code = code


def node_endpoint(node: str, address: str | None) -> Endpoint:
    """The https endpoint of a node's advertised ``HOST:PORT`` (never plain http: the
    token must not travel in clear); NodeError without one."""
    if not address:
        raise NodeError(node, "advertises no API address ([cluster] advertise)", "no_api")
    try:
        if "://" in address:
            raise ValueError(address)
        return parse_endpoint(address, default_scheme="https")
    except ValueError:
        raise NodeError(node, f"advertises a bad API address {address!r}", "no_api") from None


def _path(path: str, query: Query | None) -> str:
    if not query:
        return path
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, str(v)) for v in values]
    return f"{path}?{urllib.parse.urlencode(pairs)}"


def _error_of(node: str, status: int, data: bytes) -> NodeError:
    try:
        answer = msgspec.json.decode(data)
        code, detail = str(answer["error"]), str(answer.get("detail") or "")
    except (msgspec.DecodeError, KeyError, TypeError):
        code, detail = f"http_{status}", data[:200].decode("utf-8", "replace").strip()
    return NodeError(node, f"{detail} ({code})" if detail else code, code)


class NodeApi:
    """``await api.call("a", "10.0.0.5:5555", "GET", "/v1/status")``."""

    def __init__(self, credentials: NodeCredentials) -> None:
        self.credentials = credentials
        self._ssl: ssl.SSLContext | None = None
        self._pools: dict[Endpoint, EndpointPool] = {}

    def close(self) -> None:
        """Close the idle connections."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            from ringleader.cluster.etcd.tls import TlsFileError, client_context

            c = self.credentials
            try:
                self._ssl = client_context(c.cafile, c.certfile, c.keyfile, peer="node API")
            except TlsFileError as exc:  # the console's own files: a usage mistake
                raise ConfigError([str(exc)]) from None
        return self._ssl

    def _headers(self, stream: bool) -> list[tuple[str, str]]:
        headers = [("Accept", "text/event-stream" if stream else "application/json")]
        if self.credentials.token:
            headers.append(("Authorization", f"Bearer {self.credentials.token}"))
        return headers

    def _pool(self, node: str, endpoint: Endpoint) -> EndpointPool:
        pool = self._pools.get(endpoint)
        if pool is None:
            pool = self._pools[endpoint] = EndpointPool(endpoint, self._context(),
                                                        peer=f"node {node}")
        return pool

    async def _open(self, node: str, address: str | None) -> HttpConnection:
        endpoint = node_endpoint(node, address)
        try:
            return await self._pool(node, endpoint).acquire(fresh=True)
        except ConnectionLost as exc:
            raise NodeError(node, f"cannot connect to {address}: {exc}") from None

    async def _request(self, node: str, address: str | None, method: str, path: str,
                       payload: bytes) -> tuple[int, bytes]:
        """One request; a GET on an idle connection of before, else on a new one."""
        pool = self._pool(node, node_endpoint(node, address))
        reused = pool.idle() if method == "GET" else None
        if reused is not None:
            try:
                answer = await reused.request(path, payload, self._headers(False),
                                              method=method)
            except ConnectionLost:  # closed by the node meanwhile: a read, tried again
                reused.close()
            except BaseException:
                reused.close()
                raise
            else:
                pool.release(reused)
                return answer
        conn = await self._open(node, address)
        try:
            answer = await conn.request(path, payload, self._headers(False), method=method)
        except BaseException:
            conn.close()
            raise
        pool.release(conn)
        return answer

    async def call(self, node: str, address: str | None, method: str, path: str, *,
                   body: Any = None, query: Query | None = None,
                   timeout: float | None = None) -> Any:
        """One request; the decoded JSON answer. NodeError on any failure, within
        ``timeout`` (default: the credentials' per-node timeout)."""
        limit = self.credentials.timeout if timeout is None else timeout
        payload = msgspec.json.encode(body) if body is not None else b""
        try:
            async with asyncio.timeout(limit):
                status, data = await self._request(node, address, method,
                                                   _path(path, query), payload)
        except TimeoutError:
            raise NodeError(node, f"no answer within {limit:g} s", "timeout") from None
        except ConnectionLost as exc:
            raise NodeError(node, str(exc)) from None
        if status >= 400:
            raise _error_of(node, status, data)
        try:
            return msgspec.json.decode(data) if data else None
        except msgspec.DecodeError:
            raise NodeError(node, "answered something that is not JSON", "bad_answer") from None

    async def stream(self, node: str, address: str | None, path: str, *,
                     query: Query | None = None) -> AsyncIterator[tuple[str, Any]]:
        """A Server-Sent Events stream: (event, decoded data) pairs until the node ends
        it. Connecting and the first answer are bounded by the per-node timeout; the
        stream itself is not (the node sends a heartbeat comment every 15 s)."""
        limit = self.credentials.timeout
        conn: HttpConnection | None = None
        try:
            try:
                async with asyncio.timeout(limit):
                    conn = await self._open(node, address)
                    status, lines = await conn.stream(_path(path, query), b"",
                                                      self._headers(True), method="GET")
                    if status >= 400:
                        raise _error_of(node, status, b"".join([x async for x in lines]))
            except TimeoutError:
                raise NodeError(node, f"no answer within {limit:g} s", "timeout") from None
            event = "message"
            async for line in lines:
                text = line.decode("utf-8", "replace").rstrip("\r")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    try:
                        yield event, msgspec.json.decode(text[5:].strip())
                    except msgspec.DecodeError:
                        yield event, text[5:].strip()
                    event = "message"
        except ConnectionLost as exc:
            raise NodeError(node, str(exc)) from None
        finally:
            if conn is not None:
                conn.close()
