"""A tiny server playing the controller for the dashboard's pages, in a thread.

It serves the real assets (`load_assets`), opens real sessions (`Sessions`), runs the real
browser checks (`guard`) and streams from a real `ReplayBuffer`: only the /v1 data is
canned, as plain dicts that are checked against the API's Structs so they cannot drift
from the real schema. Phase 2 replaces it with the real controller.

Tests drive it from their thread: `set_watchers`, `log`, `event`, `stats`, `drop_streams`;
and read what the pages did: `requests` (every /v1 request with its answer's status) and
`streams` (every stream opened, with its query and Last-Event-ID).
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from ringleader.api.schema import EventMessage, LogLine, StatsResponse, StatusResponse
from ringleader.dashboard import guard
from ringleader.dashboard.assets import ASSET_PREFIX, PAGE_PATH, load_assets
from ringleader.dashboard.guard import Origins, Refusal
from ringleader.dashboard.session import (
    Session,
    SessionError,
    Sessions,
    clear_cookie,
    cookie_name,
    read_cookie,
    set_cookie,
)
from ringleader.dashboard.stream import (
    EVENT_NAMES,
    EventId,
    ReplayBuffer,
    StreamRequest,
    StreamRequestError,
    encode_frame,
    parse_stream_request,
    retry_frame,
)

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
class _Position:
    """What a stream has sent: its generation, versions and buffer cursor."""

    generation: int
    status: int
    stats: int
    outbox: int
    cursor: int


@dataclass
class StreamLog:
    query: dict[str, list[str]]
    last_event_id: str | None
    open: bool = True
    sent: list[str] = field(default_factory=list)  # ids sent, in order


def process(wid: int, pid: int | None, state: str = "running") -> dict[str, Any]:
    return {"wid": wid, "pid": pid, "state": state, "reason": "", "status": "",
            "uptime": 12.5 if pid else 0.0, "restarts": 0, "exit_code": None,
            "exit_signal": None, "exit_history": []}


def watcher(name: str, count: int, state: str = "active") -> dict[str, Any]:
    running = state == "active"
    procs = [process(w, 4000 + w + 100 * len(name) if running else None,
                     "running" if running else "stopped") for w in range(1, count + 1)]
    return {"name": name, "state": state, "detail": "", "numprocesses": count,
            "running": count if running else 0, "processes": procs}


class StandIn:
    def __init__(self, watchers: list[dict[str, Any]] | None = None) -> None:
        self.assets = load_assets()
        self.sessions = Sessions()
        self.buffer = ReplayBuffer(os.urandom(4).hex())
        self.changed = threading.Condition()
        self.watchers = watchers if watchers is not None else [
            watcher("web", 2), watcher("worker", 3), watcher("cron", 1, "stopped")]
        self.options: dict[str, dict[str, Any]] = {}
        self.status_version = 0
        self.stats_message: bytes | None = None
        self.stats_version = 0
        self.cluster: dict[str, Any] = {"enabled": False}
        self.outbox: list[bytes] = []  # raw frames for every open stream (`push`)
        self.drained: list[str] = []
        self.requests: list[Recorded] = []
        self.streams: list[StreamLog] = []
        self._drop = 0  # streams opened before this generation are closed
        self._stopping = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origins = Origins.for_names("http", ["127.0.0.1"], self.port)
        self.cookie = cookie_name(self.port)
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.changed:
            self._stopping = True
            self.changed.notify_all()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def url(self, path: str = PAGE_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def one_time_url(self, role: str = "admin") -> str:
        return self.url(f"{PAGE_PATH}#token={self.sessions.issue_token(role, 'uid:0(test)')}")

    # -- what tests feed ---------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        status = {"controller": {"pid": os.getpid(), "version": "0.1.0", "uptime": 10.0,
                                 "config": None}, "watchers": self.watchers}
        msgspec.convert(status, StatusResponse)  # the canned data must be real API data
        return status

    def set_watchers(self, watchers: list[dict[str, Any]]) -> None:
        with self.changed:
            self.watchers = watchers
            self._status_changed()

    def _status_changed(self) -> None:
        self.status_version += 1
        self.changed.notify_all()

    def log(self, watcher_name: str, wid: int, line: str, stream: str = "stdout") -> str:
        data = {"at": time.time(), "watcher": watcher_name, "wid": wid, "stream": stream,
                "line": line}
        msgspec.convert(data, LogLine)
        with self.changed:
            item = self.buffer.append("log", json.dumps(data).encode(),
                                      watcher=watcher_name, stream=stream)
            self.changed.notify_all()
        return self.buffer.id_of(item)

    def event(self, topic: str, data: dict[str, Any]) -> str:
        message = {"topic": topic, "at": time.time(), "data": data}
        msgspec.convert(message, EventMessage)
        with self.changed:
            item = self.buffer.append("event", json.dumps(message).encode(),
                                      watcher=data.get("watcher"))
            self.changed.notify_all()
        return self.buffer.id_of(item)

    def stats(self, at: float, cpu: float = 5.0, rss: int = 50 << 20) -> None:
        """One stats message for every watcher (each process: cpu, rss)."""
        watchers = []
        for w in self.watchers:
            procs = [{"wid": p["wid"], "pid": p["pid"], "cpu_percent": cpu, "rss": rss,
                      "uss": None, "num_fds": 5, "num_children": 0, "age": 30.0,
                      "restarts": 0, "exit_history": []}
                     for p in w["processes"] if p["pid"]]
            watchers.append({"name": w["name"], "cpu_percent": cpu * len(procs),
                             "rss": rss * len(procs), "processes": procs})
        message = {"at": at, "watchers": watchers}
        msgspec.convert(message, StatsResponse)
        with self.changed:
            self.stats_message = json.dumps(message).encode()
            self.stats_version += 1
            self.changed.notify_all()

    def push(self, frames: bytes) -> None:
        """Raw frames, written at once to every open stream (a burst)."""
        with self.changed:
            self.outbox.append(frames)
            self.changed.notify_all()

    def drop_streams(self) -> None:
        """End every open stream from the server side, as a restart of a proxy would."""
        with self.changed:
            self._drop += 1
            self.changed.notify_all()

    def open_streams(self) -> int:
        return sum(s.open for s in self.streams)

    # -- the /v1 API the pages use -----------------------------------------------------
    def find(self, name: str) -> dict[str, Any] | None:
        return next((w for w in self.watchers if w["name"] == name), None)

    def act(self, name: str, op: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.changed:
            w = self.find(name)
            if w is None:
                return 404, {"error": "not_found", "detail": f"no watcher {name!r}"}
            if op in ("start", "restart", "reload"):
                replacement = watcher(name, w["numprocesses"])
                w.update(replacement)
            elif op == "stop":
                w.update(watcher(name, w["numprocesses"], "stopped"))
            elif op in ("incr", "decr"):
                count = max(0, w["numprocesses"] + (1 if op == "incr" else -1) * body["count"])
                w.update(watcher(name, count, w["state"]))
                self._status_changed()
                return 200, {"name": name, "numprocesses": count}
            elif op == "signal":
                return 200, {"signalled": w["running"]}
            elif op == "options":
                self.options.setdefault(name, {}).update(body["options"])
                return 200, {"name": name, "options": self.watcher_options(name)}
            elif op == "remove":
                self.watchers.remove(w)
                self._status_changed()
                return 200, {"ok": True, "detail": f"watcher {name!r} removed"}
            self._status_changed()
            return 200, w

    def watcher_options(self, name: str) -> dict[str, Any]:
        w = self.find(name)
        assert w is not None
        return {"cmd": f"python -m {name}", "numprocesses": w["numprocesses"],
                "graceful_timeout": 30.0, "env": {"MODE": "prod", "API_TOKEN": "***"},
                **self.options.get(name, {})}

    def add(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self.changed:
            if self.find(body["name"]):
                return 409, {"error": "already_exists", "detail": "exists"}
            w = watcher(body["name"], body.get("numprocesses", 1),
                        "active" if body.get("start") else "stopped")
            self.watchers.append(w)
            self._status_changed()
            return 201, w

    def stream_generation(self) -> int:
        return self._drop


def session_json(session: Session, now: float) -> dict[str, Any]:
    return {"session": {"role": session.role, "name": session.name, "csrf": session.csrf,
                        "expires_in": session.expires_in(now)}}


def _handler_for(standin: StandIn) -> type[BaseHTTPRequestHandler]:
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
