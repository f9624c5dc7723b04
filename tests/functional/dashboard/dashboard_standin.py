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
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

import msgspec
from dashboard_standin_http import Recorded, StreamLog, handler_for

from ringleader.api.schema import EventMessage, LogLine, StatsResponse, StatusResponse
from ringleader.dashboard.assets import PAGE_PATH, load_assets
from ringleader.dashboard.guard import Origins
from ringleader.dashboard.session import (
    Sessions,
    cookie_name,
)
from ringleader.dashboard.stream import (
    ReplayBuffer,
)


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
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
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
