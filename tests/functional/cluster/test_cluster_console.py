"""The cluster console's live commands against real nodes: a rolling `cluster reload` of
HTTP workers on a shared socket per node under a loopback load loop (0 failed requests; a
version that never becomes ready stops the rollout after the first node), fan-out with
dead nodes (named, never waited on past the per-node timeout), merged logs and events
prefixed node/job.wid, and bad input."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_harness import EtcdCluster
from node_harness import RINGLEADER, Nodes

from ringleader.testing import free_port, make_test_pki, wait_until_sync

# Serves HTTP on the inherited socket; READY=1 (sd_notify) once serving, unless the version
# on disk (the file named by argv[2]) is "bad": that version never becomes ready.
WORKER = textwrap.dedent("""
    import os, signal, socket, sys, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    VERSION = open(sys.argv[2]).read().strip()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"{VERSION} {os.getpid()}".encode()
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
    if VERSION != "bad":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = os.environ["NOTIFY_SOCKET"]
        s.sendto(b"READY=1", "\\0" + address[1:] if address[0] == "@" else address)
    print("serving", VERSION, flush=True)
    server.serve_forever()
""")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(str(tmp_path_factory.mktemp("console-pki")))


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path, etcd: EtcdCluster,
          pki: dict[str, str]) -> Iterator[Nodes]:
    group = Nodes(tmp_path, etcd.endpoints, pki, prefix=f"/console/{request.node.name}")
    try:
        yield group
    finally:
        group.stop_all()


class Load:
    """Requests in a loop, round the nodes' ports, from two threads."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, offset: int) -> None:
        for n in range(50_000):
            if self._stop.is_set():
                return
            port = self.ports[(n + offset) % len(self.ports)]
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                with self._lock:
                    self.ok += 1
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failed.append(f"{port}: {exc!r}")

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def test_rolling_reload_under_load_and_a_version_that_never_gets_ready(
        nodes: Nodes, tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    version = tmp_path / "version"
    version.write_text("v1")
    ports = {}
    for name in "abc":
        ports[name] = free_port()
        nodes.start(name, extra=f'[sockets.web]\nhost = "127.0.0.1"\nport = {ports[name]}\n')
    jobs = nodes.jobs_file(f"""
        [jobs.web]
        cmd = "{RINGLEADER[0]} {tmp_path}/worker.py $(ringleader.sockets.web) {version}"
        per_node = 2
        use_sockets = true
        readiness = "notify"
        ready_timeout = 3
        graceful_timeout = 10
        [jobs.web.stdout_stream]
        kind = "null"
    """)
    assert nodes.console("apply", jobs).returncode == 0
    wait_until_sync(lambda: nodes.counts() == dict.fromkeys("abc", 2), timeout=20,
                    what="2 ready workers per node")
    with Load(list(ports.values())) as load:
        wait_until_sync(lambda: load.ok > 30, timeout=20, what="traffic")
        before = {n: node.pids() for n, node in nodes.nodes.items()}
        rolled = nodes.console("reload", "web")
        assert rolled.returncode == 0, rolled.stderr
        assert rolled.stdout.split("\n")[:3] == ["a: reloaded", "b: reloaded", "c: reloaded"]
        v1 = {n: node.pids() for n, node in nodes.nodes.items()}
        assert all(not set(v1[n]) & set(before[n]) for n in "abc")  # all replaced
        version.write_text("bad")  # the next version never becomes ready
        stopped = nodes.console("reload", "web")
        served = load.ok
    assert stopped.returncode == 1
    assert "reload stopped at node a:" in stopped.stderr and "not_ready" in stopped.stderr
    assert "left as they were: b, c" in stopped.stderr
    assert {n: node.pids() for n, node in nodes.nodes.items()} == v1  # old ones kept
    assert served > 30 and not load.failed, load.failed[:5]


TIMEOUT = 3  # per node: enough for a's restart on a loaded machine


def test_dead_nodes_are_named_and_never_waited_on(nodes: Nodes) -> None:
    refused = free_port()  # nothing listens there
    with socket.socket() as blackhole:  # listens, never accepts: TLS never completes
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen()
        silent = blackhole.getsockname()[1]
        nodes.start("a")
        nodes.start("b", cluster_extra=f'advertise = "127.0.0.1:{refused}"\n')
        nodes.start("c", cluster_extra=f'advertise = "127.0.0.1:{silent}"\n')
        jobs = nodes.jobs_file("""
            [jobs.web]
            cmd = "python3 -u -c 'import time\\nwhile True: print(\\"tick\\"); time.sleep(0.2)'"
            per_node = 1
        """)
        assert nodes.console("apply", jobs).returncode == 0
        wait_until_sync(lambda: nodes.counts() == dict.fromkeys("abc", 1), timeout=15,
                        what="one per node")
        results = {}
        for args in (("status",), ("restart", "web"), ("signal", "web", "HUP"),
                     ("logs", "web")):
            started = time.monotonic()
            result = results[args[0]] = nodes.console(*args, "--timeout", str(TIMEOUT))
            took = time.monotonic() - started
            assert result.returncode == 1, (args, result.stderr)
            assert "node b: cannot connect" in result.stderr, (args, result.stderr)
            assert f"node c: no answer within {TIMEOUT} s" in result.stderr, (args,
                                                                              result.stderr)
            # every node at once, each within the timeout: never c's silence plus a's work
            assert took < TIMEOUT + 5, (args, took)
        assert "a: restarted" in results["restart"].stdout
        assert "failed on 2 node(s): b, c" in results["restart"].stderr
        assert "a/web.1 | tick" in results["logs"].stdout
        rollout = nodes.console("reload", "web", "--timeout", "10")  # b fails at once
        assert rollout.returncode == 1 and rollout.stdout.startswith("a: reloaded")
        assert "reload stopped at node b" in rollout.stderr
        assert "left as they were: c" in rollout.stderr


def _follow(nodes: Nodes, *args: str, want: str) -> tuple[str, str, int]:
    """A following console command, read until ``want`` shows, then interrupted."""
    env = {"RINGLEADER_TOKEN": nodes.token, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([*RINGLEADER, "cluster", *args, "--etcd", ",".join(nodes.etcd),
                             "--prefix", nodes.prefix, "--cafile", nodes.pki["ca"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    seen = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if want in line or not line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    return "".join(seen) + out, err, proc.returncode


def test_merged_logs_and_events(nodes: Nodes) -> None:
    for name in "ab":
        nodes.start(name)
    jobs = nodes.jobs_file("""
        [jobs.web]
        cmd = "python3 -u -c 'import time\\nwhile True: print(\\"tick\\"); time.sleep(0.2)'"
        count = 2
    """)
    assert nodes.console("apply", jobs).returncode == 0
    wait_until_sync(lambda: nodes.counts() == {"a": 1, "b": 1}, timeout=15, what="placed")
    out, err, code = _follow(nodes, "logs", "web", "-f", want="b/web.1 | tick")
    assert "b/web.1 | tick" in out and code == 130, err
    out, err, code = _follow(nodes, "logs", "web", "-f", want="a/web.1 | tick")
    assert "a/web.1 | tick" in out
    # events: a restart on b shows as b/web.1 | ... process.state ...
    restarter = threading.Timer(1.0, lambda: nodes.console("restart", "web"))
    restarter.start()
    try:
        out, err, code = _follow(nodes, "events", "--topic", "process", want="b/web.1 |")
    finally:
        restarter.join()
    assert "b/web.1 | " in out and "process." in out, (out, err)
    raw = nodes.console("logs", "web", "-n", "3", "--json")
    first = json.loads(raw.stdout.splitlines()[0])
    assert first["node"] in ("a", "b") and first["data"]["line"] == "tick"


def test_bad_input(nodes: Nodes) -> None:
    nodes.start("a", labels={"zone": "1"})
    bad = nodes.jobs_file("""
        [jobs.web]
        cmd = "sleep 600"
        graceful_timeout = "soon"
        [jobs.api]
        cmd = "sleep 600"
        count = 1
        per_node = 2
        [jobs.ok]
        cmd = "sleep 600"
        count = 1
        [other]
        x = 1
    """)
    result = nodes.console("apply", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for text in ("[jobs.web] count: expected exactly one of count", "[jobs.web] "
                 "graceful_timeout", "[jobs.api] count: expected exactly one",
                 "[other]: unknown table"):
        assert text in result.stderr, (text, result.stderr)
    code, status = nodes.console_json("status")
    assert status["jobs"] == []  # nothing written, not even the good job
    for args, code, text in (
            (("rm", "nope"), 1, "no job nope"),
            (("scale", "nope", "3"), 1, "no job nope"),
            (("reload", "nope"), 1, "no job 'nope'"),
            (("scale", "web", "-2"), 2, "cannot be negative"),
            (("apply", "/nonexistent.toml"), 2, "/nonexistent.toml: cannot read"),
            (("signal", "web", "NOPE"), 2, "no such signal: NOPE")):
        result = nodes.console(*args)
        assert result.returncode == code and text in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
    as_json = nodes.console("rm", "nope", "--json")
    assert json.loads(as_json.stdout) == {"error": "not_found", "detail": "no job nope",
                                          "exit_code": 1}
    down = nodes.console("status", etcd=[f"http://127.0.0.1:{free_port()}"])
    assert down.returncode == 3 and "cannot reach etcd" in down.stderr
    nowhere = subprocess.run([*RINGLEADER, "cluster", "status"], capture_output=True,
                             text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert nowhere.returncode == 2 and "where is etcd?" in nowhere.stderr
