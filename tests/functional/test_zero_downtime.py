"""A real HTTP service on a shared socket keeps answering while it is reloaded: zero failed
requests under a loopback load loop, on `reload` and on `reloadconfig`."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from ringleader.testing import free_port, terminate, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]

# A stdlib HTTP worker serving from the inherited socket ($(ringleader.sockets.web) is its
# fd number). On SIGTERM it finishes the request in hand, then stops accepting: what is
# still in the shared backlog is taken by the other workers.
WORKER = textwrap.dedent("""
    import os, signal, socket, sys, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = (os.environ.get("VERSION", "?") + " " + str(os.getpid())).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
""")


def _config(tmp: Path, port: int, version: str) -> str:
    return textwrap.dedent(f"""
        [ringleader]
        endpoint = "unix:{tmp}/rl.sock"
        [sockets.web]
        host = "127.0.0.1"
        port = {port}
        [watchers.web]
        cmd = "{sys.executable} {tmp}/worker.py $(ringleader.sockets.web)"
        numprocesses = 4
        use_sockets = true
        reload_batch = 2
        graceful_timeout = 10
        [watchers.web.env]
        VERSION = "{version}"
        [watchers.web.backoff]
        min_uptime = 0.5
        [watchers.web.stdout_stream]
        kind = "null"
    """)


class Load:
    """A bounded loop of requests from two threads; counts answers and failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok = 0
        self.failed: list[str] = []
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        for _ in range(20_000):
            if self._stop.is_set():
                return
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/")
                body = conn.getresponse().read().decode()
                conn.close()
                with self._lock:
                    self.ok += 1
                    self.versions.add(body.split()[0])
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failed.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def test_reload_and_reloadconfig_drop_no_request(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    port = free_port()
    config = tmp_path / "ringleader.toml"
    config.write_text(_config(tmp_path, port, "v1"))
    sock = f"unix:{tmp_path}/rl.sock"
    with open(tmp_path / "controller.log", "wb") as log:
        daemon = subprocess.Popen([*RINGLEADER, "run", str(config)], stdout=log,
                                  stderr=subprocess.STDOUT)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RINGLEADER, *args, "-e", sock], capture_output=True,
                              text=True, timeout=120)

    try:
        wait_until_sync(lambda: cli("status").returncode == 0, timeout=20, what="controller")
        wait_until_sync(lambda: json.loads(cli("status", "--json").stdout)["watchers"][0]
                        ["running"] == 4, timeout=20, what="4 workers")
        with Load(port) as load:
            wait_until_sync(lambda: load.ok > 50, timeout=20, what="traffic")
            result = cli("reload", "web")
            assert result.returncode == 0, result.stderr
            served_during_reload = load.ok
            config.write_text(_config(tmp_path, port, "v2"))
            result = cli("reloadconfig")
            assert result.returncode == 0, result.stderr
            wait_until_sync(lambda: "v2" in load.versions, timeout=20, what="v2 serving")
        assert served_during_reload > 50
        assert not load.failed, load.failed[:5]
        status = json.loads(cli("status", "--json").stdout)["watchers"][0]
        assert status["running"] == 4
    finally:
        terminate(daemon)
