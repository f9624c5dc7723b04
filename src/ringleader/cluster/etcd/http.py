"""HTTP/1.1 to one etcd endpoint: h11 (sans-IO) over asyncio streams, TLS when asked.
(The cluster console speaks to the nodes' control APIs with the same connection.)

One ``HttpConnection`` carries one request at a time. Unary calls reuse idle connections
(``EndpointPool``); a watch holds a connection of its own for as long as it streams, because
etcd's gateway reads a streaming request's whole body before it answers, so one watch per
connection is the only framing that works over HTTP/1.1 (probed on 3.4.23).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import h11

from ringleader.config.cluster import Endpoint, parse_endpoint

if TYPE_CHECKING:
    import ssl

__all__ = ["ConnectionLost", "Endpoint", "EndpointPool", "HttpConnection", "TlsRefused",
           "parse_endpoint"]

MAX_BODY = 64 << 20  # an answer larger than this is not one etcd sends us (1.5 MiB requests)
MAX_LINE = 64 << 20  # one watch message: etcd fragments none by default, so allow a lot
READ_SIZE = 65_536
MAX_IDLE = 4  # idle connections kept per endpoint


class ConnectionLost(Exception):
    """The connection broke or could not be made; ``sent``: the request went out whole."""

    def __init__(self, reason: str, *, sent: bool = False) -> None:
        super().__init__(reason)
        self.sent = sent


class TlsRefused(ConnectionLost):
    """The TLS handshake failed: a certificate that does not verify, on either side."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _lost(exc: OSError, *, sent: bool) -> ConnectionLost:
    """The error for a failed socket operation. An ssl error (a TLS 1.3 server refuses a
    client certificate only after the handshake, on the first read) is a TlsRefused."""
    if type(exc).__module__ == "ssl" and not isinstance(exc, ConnectionResetError):
        reason = getattr(exc, "reason", None) or str(exc)
        return TlsRefused(f"TLS refused: {str(reason).lower().replace('_', ' ')}", sent=sent)
    return ConnectionLost(_describe(exc), sent=sent)


class HttpConnection:
    """One TCP (or TLS) connection speaking HTTP/1.1 to an etcd endpoint (or to
    another ``peer``, as errors name it)."""

    def __init__(self, endpoint: Endpoint, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, peer: str = "etcd") -> None:
        self.endpoint = endpoint
        self.peer = peer
        self._reader = reader
        self._writer = writer
        self._conn = h11.Connection(h11.CLIENT)
        self._answered = False  # a response came on this connection

    @classmethod
    async def open(cls, endpoint: Endpoint, ssl_context: ssl.SSLContext | None, *,
                   peer: str = "etcd") -> HttpConnection:
        """Connect; the caller bounds the time (``asyncio.timeout``)."""
        tls = ssl_context if endpoint.scheme == "https" else None
        if endpoint.scheme == "https" and tls is None:
            raise ConnectionLost("https endpoint but no TLS settings")
        try:
            reader, writer = await asyncio.open_connection(
                endpoint.host, endpoint.port, ssl=tls,
                server_hostname=endpoint.host if tls else None)
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise _lost(exc, sent=False) from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # a watch may stay quiet for hours: let the kernel notice a peer gone without
            # a word (a dropped route, a crashed host) in about 20 s, at no cost to us
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 3),
                                  ("TCP_KEEPCNT", 3)):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        return cls(endpoint, reader, writer, peer)

    @property
    def is_reusable(self) -> bool:
        return self._conn.our_state is h11.IDLE and not self._reader.at_eof()

    def close(self) -> None:
        self._writer.close()

    async def request(self, path: str, body: bytes, headers: list[tuple[str, str]], *,
                      method: str = "POST") -> tuple[int, bytes]:
        """POST (or ``method``) ``body`` to ``path``; the status and the whole answer."""
        status = await self._send(path, body, headers, method)
        chunks = []
        size = 0
        async for data in self._body():
            size += len(data)
            if size > MAX_BODY:
                raise ConnectionLost(f"answer larger than {MAX_BODY} bytes", sent=True)
            chunks.append(data)
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        return status, b"".join(chunks)

    async def stream(self, path: str, body: bytes, headers: list[tuple[str, str]], *,
                     method: str = "POST") -> tuple[int, AsyncIterator[bytes]]:
        """POST (or ``method``) and answer the status plus the response's
        newline-separated messages."""
        status = await self._send(path, body, headers, method)
        return status, self._lines()

    async def _send(self, path: str, body: bytes, headers: list[tuple[str, str]],
                    method: str = "POST") -> int:
        typed = [("Content-Type", "application/json")] if body else []
        request = h11.Request(method=method, target=path, headers=[
            ("Host", self.endpoint.host), *typed, ("Content-Length", str(len(body))),
            *headers])
        try:
            self._writer.write(self._conn.send(request) or b"")
            self._writer.write(self._conn.send(h11.Data(data=body)) or b"")
            self._writer.write(self._conn.send(h11.EndOfMessage()) or b"")
            await self._writer.drain()
        except OSError as exc:
            raise self._broken(exc, sent=False) from None
        except h11.LocalProtocolError as exc:
            raise ConnectionLost(_describe(exc)) from None
        event = await self._next_event()
        while not isinstance(event, h11.Response):
            if not isinstance(event, h11.InformationalResponse):
                raise ConnectionLost("no HTTP response", sent=True)
            event = await self._next_event()
        self._answered = True
        return event.status_code

    def _broken(self, exc: OSError, *, sent: bool) -> ConnectionLost:
        """Over TLS 1.3 a server refuses a client certificate only after the handshake,
        and its alert is lost when our request crosses it: a fresh TLS connection that
        breaks before its first answer is taken as that refusal."""
        lost = _lost(exc, sent=sent)
        if not isinstance(lost, TlsRefused) and not self._answered and (
                self._writer.get_extra_info("sslcontext") is not None):
            return TlsRefused(f"TLS connection closed by {self.peer} before any answer "
                              f"({lost}): is this client's certificate accepted?", sent=sent)
        return lost

    async def _next_event(self) -> h11.Event:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionLost(f"bad HTTP from {self.peer}: {exc}", sent=True) from None
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionLost(f"connection closed by {self.peer}", sent=True)
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:
                raise ConnectionLost("unexpected data after the answer", sent=True)
            try:  # NEED_DATA
                data = await self._reader.read(READ_SIZE)
            except OSError as exc:
                raise self._broken(exc, sent=True) from None
            self._conn.receive_data(data)

    async def _body(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return

    async def _lines(self) -> AsyncIterator[bytes]:
        buffer = b""
        async for data in self._body():
            buffer += data
            if len(buffer) > MAX_LINE:
                raise ConnectionLost(f"stream message larger than {MAX_LINE} bytes", sent=True)
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line
        if buffer.strip():
            yield buffer
        raise ConnectionLost(f"stream ended by {self.peer}", sent=True)


class EndpointPool:
    """Idle connections to one endpoint, reused by unary calls."""

    def __init__(self, endpoint: Endpoint, ssl_context: ssl.SSLContext | None, *,
                 peer: str = "etcd") -> None:
        self.endpoint = endpoint
        self._ssl = ssl_context
        self._peer = peer
        self._idle: list[HttpConnection] = []

    def idle(self) -> HttpConnection | None:
        """An idle connection that still looks usable, or None."""
        while self._idle:
            conn = self._idle.pop()
            if conn.is_reusable:
                return conn
            conn.close()
        return None

    async def acquire(self, *, fresh: bool = False) -> HttpConnection:
        conn = None if fresh else self.idle()
        return conn or await HttpConnection.open(self.endpoint, self._ssl, peer=self._peer)

    def release(self, conn: HttpConnection) -> None:
        if conn.is_reusable and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
