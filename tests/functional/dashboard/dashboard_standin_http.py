"""The stand-in's HTTP side (`StandIn` is the state): the pages and assets, the session
routes, the /v1 routes the pages use, and the multiplexed stream, each behind the real
`guard` checks. One thread per connection (``ThreadingHTTPServer``), HTTP/1.0."""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from ringleader.dashboard import guard
from ringleader.dashboard.assets import ASSET_PREFIX, PAGE_PATH
from ringleader.dashboard.guard import Refusal
from ringleader.dashboard.session import (
    Session,
    SessionError,
    clear_cookie,
    read_cookie,
    set_cookie,
)
from ringleader.dashboard.stream import (
    EVENT_NAMES,
    EventId,
    StreamRequest,
    StreamRequestError,
    encode_frame,
    parse_stream_request,
    retry_frame,
)

if TYPE_CHECKING:
    from dashboard_standin import StandIn

# The role each /v1 change needs, as the real route table says.
ACTION_ROLES = {"start": "operate", "stop": "operate", "restart": "operate",
                "reload": "operate", "incr": "operate", "decr": "operate",
                "signal": "operate", "options": "admin", "remove": "admin"}
RANK = {"read": 0, "operate": 1, "admin": 2}
_POLL = 0.05  # how often a stream thread looks for a vanished client


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class StreamLog:
    query: dict[str, list[str]]
    last_event_id: str | None
    open: bool = True
    sent: list[str] = field(default_factory=list)  # ids sent, in order


@dataclass
class _Position:
    """What a stream has sent: its generation, versions and buffer cursor."""

    generation: int
    status: int
    stats: int
    outbox: int
    cursor: int


def session_json(session: Session, now: float) -> dict[str, Any]:
    return {"session": {"role": session.role, "name": session.name, "csrf": session.csrf,
                        "expires_in": session.expires_in(now)}}


def handler_for(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        app = standin

    return Handler


class _Handler(BaseHTTPRequestHandler):
    app: StandIn
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send(self, status: int, body: bytes, content_type: str,
              headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: list[tuple[str, str]] | None = None) -> None:
        if self._record is not None:
            self._record.status = status
        self._send(status, json.dumps(data).encode(), "application/json",
                   [*guard.API_HEADERS, *(extra or [])])

    def _refuse(self, refusal: Refusal) -> None:
        self._json(refusal.status, {"error": refusal.code, "detail": refusal.detail})

    _record: Recorded | None = None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        headers = self._headers()
        target = urlsplit(self.path)
        path = unquote(target.path)
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == PAGE_PATH or path.startswith(ASSET_PREFIX):
            self._static(method, path, headers)
            return
        if not path.startswith("/v1/"):
            self._json(404, {"error": "not_found", "detail": path})
            return
        self._record = Recorded(method, path, headers, body)
        self.app.requests.append(self._record)
        refusal = guard.check_browser(method, headers, self.app.origins)
        if refusal is not None:
            self._refuse(refusal)
            return
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            self._json(400, {"error": "bad_request", "detail": "malformed JSON body"})
            return
        self._api(method, path, parse_qs(target.query), headers, payload)

    def _static(self, method: str, path: str, headers: dict[str, str]) -> None:
        refusal = guard.check_browser(method, headers, self.app.origins)
        if refusal is not None:
            self._send(refusal.status, refusal.detail.encode(), "text/plain")
            return
        asset = self.app.assets.lookup(path)
        if asset is None:
            self._send(404, b"not found", "text/plain", guard.API_HEADERS)
            return
        body, encoding = asset.encoded(headers.get("accept-encoding"))
        extra = list(guard.ASSET_HEADERS if asset.immutable else guard.PAGE_HEADERS)
        extra.append(("Vary", "Accept-Encoding"))
        if encoding:
            extra.append(("Content-Encoding", encoding))
        self._send(200, body, asset.content_type, extra)

    def _api(self, method: str, path: str, query: dict[str, list[str]],
             headers: dict[str, str], body: dict[str, Any]) -> None:
        app = self.app
        if (method, path) == ("POST", "/v1/session"):
            try:
                session = app.sessions.exchange(str(body.get("token", "")))
            except SessionError as exc:
                self._json(401, {"error": "unauthorized", "detail": exc.detail})
                return
            cookie = set_cookie(app.cookie, app.sessions.cookie_value(session),
                                int(app.sessions.lifetime))
            self._json(200, session_json(session, time.monotonic()),
                       [("Set-Cookie", cookie)])
            return
        session = self._session(headers)
        if session is None:
            if (method, path) == ("GET", "/v1/session"):
                self._json(200, {"session": None})
            else:
                self._json(401, {"error": "unauthorized", "detail": "sign in first"})
            return
        refusal = guard.check_csrf(method, headers, session.csrf)
        if refusal is not None:
            self._refuse(refusal)
            return
        if path == "/v1/session":
            self._json(200, session_json(session, time.monotonic()))
        elif path == "/v1/session/logout":
            app.sessions.close(session.sid)
            self._json(200, {"ok": True, "detail": "signed out"},
                       [("Set-Cookie", clear_cookie(app.cookie))])
        elif path == "/v1/status":
            self._json(200, app.status())
        elif path == "/v1/stream":
            self._stream(query, headers)
        elif path == "/v1/cluster/overview":
            self._json(200, app.cluster)
        elif path.startswith("/v1/cluster/nodes/") and path.endswith("/drain"):
            if RANK[session.role] < RANK["admin"]:
                self._forbidden("drain", "admin", session)
                return
            app.drained.append(path.split("/")[4])
            self._json(200, {"ok": True, "detail": "draining"})
        elif path == "/v1/watchers" and method == "POST":
            if RANK[session.role] < RANK["admin"]:
                self._forbidden("add", "admin", session)
                return
            self._json(*app.add(body))
        elif path.startswith("/v1/watchers/"):
            self._watcher(method, path, session, body)
        else:
            self._json(404, {"error": "not_found", "detail": f"no endpoint {path}"})

    def _forbidden(self, op: str, role: str, session: Session) -> None:
        self._json(403, {"error": "forbidden", "detail": f"{op} needs the {role} role; "
                         f"{session.name} has {session.role}"})

    def _watcher(self, method: str, path: str, session: Session,
                 body: dict[str, Any]) -> None:
        name, _, op = path.removeprefix("/v1/watchers/").partition("/")
        w = self.app.find(name)
        if w is None:
            self._json(404, {"error": "not_found", "detail": f"no watcher {name!r}"})
        elif method == "GET" and op == "":
            self._json(200, w)
        elif method == "GET" and op == "options":
            self._json(200, {"name": name, "options": self.app.watcher_options(name)})
        elif method == "POST" and op in ACTION_ROLES:
            if RANK[session.role] < RANK[ACTION_ROLES[op]]:
                self._forbidden(op, ACTION_ROLES[op], session)
                return
            self._json(*self.app.act(name, op, body))
        else:
            self._json(405, {"error": "method_not_allowed", "detail": f"{method} {path}"})

    def _session(self, headers: dict[str, str]) -> Session | None:
        value = read_cookie(headers.get("cookie"), self.app.cookie)
        if value is None:
            return None
        try:
            return self.app.sessions.verify(value)
        except SessionError:
            return None

    # -- the multiplexed stream -------------------------------------------------------
    def _stream(self, query: dict[str, list[str]], headers: dict[str, str]) -> None:
        app = self.app
        try:
            request = parse_stream_request(query, headers.get("last-event-id"))
        except StreamRequestError as exc:
            self._json(400, {"error": "bad_request", "detail": str(exc)})
            return
        log = StreamLog(query, headers.get("last-event-id"))
        with app.changed:  # subscribe before answering: nothing falls in between
            app.streams.append(log)
            position = _Position(app.stream_generation(), app.status_version,
                                 app.stats_version, len(app.outbox), 0)
            position.cursor, frames = self._first_frames(request, log)
        if self._record is not None:
            self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        for name, value in guard.API_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(frames)
            self.wfile.flush()
            self._serve_stream(request, log, position)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            log.open = False

    def _serve_stream(self, request: StreamRequest, log: StreamLog, at: _Position) -> None:
        app = self.app
        while True:
            with app.changed:
                app.changed.wait(_POLL)
                if app._stopping or app.stream_generation() != at.generation:
                    return
                items = app.buffer.since(EventId(app.buffer.epoch, at.cursor)) or []
                chunk = b"".join(app.outbox[at.outbox:])
                at.outbox = len(app.outbox)
                for item in app.buffer.select(items, request):
                    event_id = app.buffer.id_of(item)
                    log.sent.append(event_id)
                    chunk += encode_frame(EVENT_NAMES["events" if item.kind == "event"
                                                      else "logs"], item.data, event_id)
                if items:
                    at.cursor = items[-1].seq
                if at.status != app.status_version:
                    at.status = app.status_version
                    chunk += self._snapshots(request, stats=False)
                if at.stats != app.stats_version:
                    at.stats = app.stats_version
                    chunk += self._snapshots(request, status=False)
            if chunk:
                self.wfile.write(chunk)
                self.wfile.flush()
            elif self._client_gone():
                return

    def _first_frames(self, request: StreamRequest, log: StreamLog) -> tuple[int, bytes]:
        """retry, hello, then the replay after the client's last id, or a reset and the
        backlog. Returns the last seq covered and the frames."""
        app = self.app
        frames = retry_frame(200)  # the real default is 2 s: tests need not wait that long
        resumed = False
        items = None
        if request.resume is not None:
            items = app.buffer.since(request.resume)
            resumed = items is not None
        frames += encode_frame("hello", json.dumps(
            {"topics": sorted(request.topics), "resumed": resumed}).encode())
        if request.resume is not None and items is None:
            frames += encode_frame("reset", b'{"reason": "the stream cannot be resumed"}')
        if items is None:  # a fresh stream: its backlog
            chosen = app.buffer.select(app.buffer.since(EventId(app.buffer.epoch, 0)) or [],
                                       request)
            items = chosen[-request.backlog:] if request.backlog else []
        for item in app.buffer.select(items, request):
            event_id = app.buffer.id_of(item)
            log.sent.append(event_id)
            frames += encode_frame(EVENT_NAMES["events" if item.kind == "event" else "logs"],
                                   item.data, event_id)
        last = app.buffer.last_id
        return (last.seq if last else 0), frames + self._snapshots(request)

    def _snapshots(self, request: StreamRequest, *, status: bool = True,
                   stats: bool = True) -> bytes:
        app = self.app
        frames = b""
        if status and "status" in request.topics:
            frames += encode_frame("status", json.dumps(app.status()).encode())
        if stats and "stats" in request.topics and app.stats_message is not None:
            frames += encode_frame("stats", app.stats_message)
        return frames

    def _client_gone(self) -> bool:
        sock: socket.socket = self.connection
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
