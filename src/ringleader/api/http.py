"""HTTP/1.1 for the control API: h11 (sans-IO) driven over asyncio streams.

One `Connection` per client: parse a request, authenticate it, hand it to the `App`, write the
`Response` (keep-alive, pipelined requests answered in order) or stream an `EventStream` as
Server-Sent Events. The transport answers its own errors (malformed HTTP, limits, credentials)
through `App.error`, and no client can make it raise: the controller goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import NoReturn
from urllib.parse import parse_qs, unquote

import h11

from ringleader.api.messages import (
    ANONYMOUS,
    App,
    AuthError,
    BrowserGate,
    EventStream,
    FramedStream,
    Identifier,
    Identity,
    Limits,
    Peer,
    Request,
    Response,
    Stream,
)

__all__ = ["ANONYMOUS", "App", "AuthError", "BrowserGate", "Connection", "EventStream",
           "FramedStream", "Identifier", "Identity", "Limits", "Peer", "Request", "Response",
           "Stream"]

log = logging.getLogger("ringleader.api.http")

_READ_CHUNK = 65536
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_AUTH_STATUS = {"unauthorized": 401, "forbidden": 403, "too_many_requests": 429}


class _Close(Exception):
    """End this connection (after an error answer, a timeout or the client leaving)."""


class Connection:
    """Serves one client connection until it closes, times out or the server stops."""

    __slots__ = ("_app", "_auth", "_browser", "_closing", "_conn", "_head_deadline", "_idle",
                 "_limits", "_loop", "_on_authenticated", "_reader", "_stop_stream", "_writer",
                 "peer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer,
                 app: App, auth: Identifier, limits: Limits, *,
                 head_deadline: float | None = None,
                 on_authenticated: Callable[[], None] | None = None,
                 browser: BrowserGate | None = None) -> None:
        """*head_deadline*: for a connection not yet authenticated, the loop time by which
        the head of its first request must be in (no idle keep-alive for strangers);
        *on_authenticated* is called once a request passed authentication (a browser's
        without a session does not count); *browser*: the listener serves the dashboard,
        and the requests it says are a browser's are checked by it instead of *auth*."""
        self._reader = reader
        self._writer = writer
        self.peer = peer
        self._app = app
        self._auth = auth
        self._limits = limits
        self._loop = asyncio.get_running_loop()
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self._idle = False  # between requests: shutdown() may close it at once
        self._closing = False
        self._stop_stream: asyncio.Future[None] | None = None
        self._head_deadline = head_deadline
        self._on_authenticated = on_authenticated
        self._browser = browser

    def shutdown(self) -> None:
        """Server stop: close now if idle, end an event stream, else close after the answer."""
        self._closing = True
        if self._idle:
            self._writer.close()
        if self._stop_stream is not None and not self._stop_stream.done():
            self._stop_stream.set_result(None)

    async def run(self) -> None:
        try:
            while not self._closing:
                request = await self._read_request()
                try:
                    result = await self._app.handle(request)
                except Exception:
                    log.exception("API handler failed on %s %s from %s", request.method,
                                  request.path, self.peer.address)
                    result = self._error(500, "internal", "internal error (see the "
                                         "controller's log)")
                if not isinstance(result, Response):
                    await self._stream(result)
                    return
                await self._send(result)
                if self._conn.our_state is not h11.DONE or self._closing:
                    return
                self._conn.start_next_cycle()
        except (_Close, ConnectionError, TimeoutError, OSError):
            pass  # the client left, misbehaved, or was too slow: nothing to report
        except h11.ProtocolError as exc:
            log.debug("API connection from %s: %s", self.peer.address, exc)
        except Exception:
            log.exception("API connection from %s failed", self.peer.address)
        finally:
            await self._close()

    async def _read_request(self) -> Request:
        conn, limits = self._conn, self._limits
        deadline: float | None = None  # set once this request's first bytes are seen
        request: Request | None = None
        body = bytearray()
        chunks = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                detail = (f"request header block larger than {limits.max_header_bytes} bytes"
                          if status == 431 else f"malformed HTTP request: {exc}")
                await self._refuse(status, "bad_request", detail)
            if event is h11.NEED_DATA:
                if deadline is None and (conn.their_state is not h11.IDLE
                                         or conn.trailing_data[0]):
                    deadline = self._loop.time() + limits.read_timeout  # pipelined leftovers
                self._idle = deadline is None
                if self._idle and self._closing:
                    raise _Close
                timeout_at = deadline if deadline is not None else \
                    self._loop.time() + limits.idle_timeout
                if self._head_deadline is not None:
                    timeout_at = min(timeout_at, self._head_deadline)
                async with asyncio.timeout_at(timeout_at):
                    data = await self._reader.read(_READ_CHUNK)
                self._idle = False
                if deadline is None:
                    deadline = self._loop.time() + limits.read_timeout
                conn.receive_data(data)  # b"" is EOF: h11 answers ConnectionClosed
            elif isinstance(event, h11.Request):
                if deadline is None:
                    deadline = self._loop.time() + limits.read_timeout
                request = await self._admit(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limits.max_body_bytes:
                    await self._refuse(413, "payload_too_large", self._too_large())
                chunks += event.chunk_start
                if chunks > limits.max_body_chunks:
                    await self._refuse(400, "bad_request", f"request body sent in more than "
                                       f"{limits.max_body_chunks} chunks")
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                request.body = bytes(body)
                return request
            else:  # ConnectionClosed, or PAUSED (cannot happen before EndOfMessage)
                raise _Close

    async def _admit(self, event: h11.Request) -> Request:
        """Headers parsed: build the Request, refuse it early for its framing, size or
        credentials."""
        if event.http_version not in (b"1.0", b"1.1"):  # h11 parses any HTTP/x.y
            await self._refuse(505, "bad_request", f"HTTP/{event.http_version.decode()} is "
                               "not supported (only HTTP/1.0 and HTTP/1.1)")
        headers: dict[str, str] = {}
        size = len(event.target)
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            size += len(name) + len(value) + 4
        if size > self._limits.max_header_bytes:  # h11 only bounds a head read in pieces
            await self._refuse(431, "bad_request", f"request header block larger than "
                               f"{self._limits.max_header_bytes} bytes")
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" in headers:
            # RFC 9112 6.1: ambiguous framing, the classic of request smuggling
            await self._refuse(400, "bad_request", "a request may not carry both "
                               "Content-Length and Transfer-Encoding")
        if length is not None and int(length) > self._limits.max_body_bytes:
            await self._refuse(413, "payload_too_large", self._too_large())
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        if not path.startswith("/"):
            await self._refuse(400, "bad_request", "expected an origin-form target (/path)")
        method = event.method.decode("ascii")
        path = unquote(path) if "%" in path else path
        session = None
        browser = self._browser is not None and self._browser.is_browser(self.peer, path,
                                                                            headers)
        try:
            if self._browser is not None and browser:
                identity, session = self._browser.admit(method, path, headers)
            else:
                identity = self._auth.identify(self.peer, headers.get("authorization"))
        except AuthError as exc:
            extra: list[tuple[str, str]] = []
            if exc.code == "unauthorized":
                extra.append(("www-authenticate", "Bearer"))
            elif exc.retry_after is not None:
                extra.append(("retry-after", str(exc.retry_after)))
            if exc.code != "too_many_requests":
                log.warning("API %s from %s: %s", exc.code, self.peer.address, exc.detail)
            status = exc.status or _AUTH_STATUS.get(exc.code, 403)
            await self._refuse(status, exc.code, exc.detail, extra)
        if self._head_deadline is not None and identity is not ANONYMOUS:
            self._head_deadline = None
            if self._on_authenticated is not None:
                self._on_authenticated()
        if self._conn.they_are_waiting_for_100_continue:
            self._writer.write(self._conn.send(h11.InformationalResponse(status_code=100,
                                                                         headers=[])))
        return Request(method, path, parse_qs(query, keep_blank_values=True) if query else {},
                       headers, b"", self.peer, identity, browser, session)

    def _too_large(self) -> str:
        return f"request body larger than {self._limits.max_body_bytes} bytes"

    def _error(self, status: int, code: str, detail: str) -> Response:
        try:
            return self._app.error(status, code, detail)
        except Exception:  # the app's error builder must not take the transport down
            log.exception("App.error failed")
            return Response(status, b'{"error":"internal","detail":"internal error"}')

    async def _refuse(self, status: int, code: str, detail: str,
                      headers: list[tuple[str, str]] | None = None) -> NoReturn:
        """Answer with an error, then close: the rest of the request is not worth reading."""
        if self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            response = self._error(status, code, detail)
            response.headers = [*response.headers, *(headers or ()), ("connection", "close")]
            await self._send(response)
        raise _Close

    async def _send(self, response: Response) -> None:
        conn = self._conn
        headers = [("content-type", response.content_type),
                   ("content-length", str(len(response.body))), *response.headers]
        if self._closing:
            headers.append(("connection", "close"))
        status = response.status
        head = conn.send(h11.Response(status_code=status, headers=headers,
                                      reason=_REASONS.get(status, b""))) or b""
        # h11 frames the body by content-length: it is the bytes as given, sent in one write
        self._writer.write(head + response.body if response.body else head)
        conn.send(h11.Data(data=response.body))
        conn.send(h11.EndOfMessage())
        await self._drain()

    async def _drain(self) -> None:
        if self._writer.transport.get_write_buffer_size():  # usually 0: skip the timer
            async with asyncio.timeout(self._limits.write_timeout):
                await self._writer.drain()

    async def _stream(self, stream: Stream) -> None:
        """Server-Sent Events until the iterator ends, the client leaves or the server stops.
        A heartbeat comment every `heartbeat` seconds finds clients that vanished silently."""
        conn = self._conn
        events: AsyncIterator[tuple[str, bytes]] | AsyncIterator[bytes] = \
            stream.frames if isinstance(stream, FramedStream) else stream.events
        extra = dict(stream.headers)
        headers = [(k, v) for k, v in (("content-type", "text/event-stream"),
                                       ("cache-control", "no-cache"),
                                       ("x-accel-buffering", "no")) if k not in extra]
        self._writer.write(conn.send(h11.Response(status_code=200, reason=b"OK", headers=[
            *headers, *stream.headers])) or b"")
        self._stop_stream = self._loop.create_future()
        eof = asyncio.ensure_future(self._reader.read(_READ_CHUNK))  # the client going away
        pending: asyncio.Future[tuple[str, bytes] | bytes] | None = None
        try:
            await self._drain()
            while not self._stop_stream.done():
                if pending is None:
                    pending = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait((pending, eof, self._stop_stream),
                                             timeout=stream.heartbeat,
                                             return_when=asyncio.FIRST_COMPLETED)
                if eof in done:
                    if not eof.result():
                        return  # EOF: nobody to write to
                    eof = asyncio.ensure_future(self._reader.read(_READ_CHUNK))  # ignored
                    continue
                if pending in done:
                    fut, pending = pending, None
                    try:
                        item = fut.result()
                    except StopAsyncIteration:
                        break
                    chunk = item if isinstance(item, bytes) else _frame(*item)
                elif self._stop_stream.done():
                    break
                else:
                    chunk = b": heartbeat\n\n"
                self._writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await self._drain()  # a slow reader is cut off, never buffered without bound
            self._writer.write(conn.send(h11.EndOfMessage()) or b"")
            await self._drain()
        finally:
            eof.cancel()
            await _close_events(events, pending)

    async def _close(self) -> None:
        self._idle = False
        writer = self._writer
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except asyncio.CancelledError:
            writer.transport.abort()  # stop() gave up waiting for us
            raise
        except Exception:
            writer.transport.abort()  # e.g. a TLS close_notify that is never answered


def _frame(name: str, data: bytes) -> bytes:
    if b"\n" in data:  # one data: line per line of the payload
        data = data.replace(b"\n", b"\ndata: ")
    return b"event: %s\ndata: %s\n\n" % (name.encode(), data)


async def _close_events(events: AsyncIterator[tuple[str, bytes]] | AsyncIterator[bytes],
                        pending: asyncio.Future[tuple[str, bytes] | bytes] | None) -> None:
    """An async generator cannot be closed while its __anext__ runs: cancel that first."""
    if pending is not None:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.exception("closing an event stream failed")
