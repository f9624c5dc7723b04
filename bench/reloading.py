"""Zero-downtime reload: HTTP workers behind one shared socket, reloaded under load.

The controller runs ``httpworker.py`` workers on one listening socket it owns. Client threads
in the bench send one request per connection (HTTP/1.0, keep-alive off) on loopback, each at
a fixed pace, while the tool's console reloads the watcher; every request either gets the whole
``200 ok`` answer (served) or not (failed: refused, reset, timed out, short answer). The
slowest request shows how long connections waited in the socket's queue meanwhile.
"""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from measure import BenchError, Running, launched
from peers import BENCH_DIR, Scenario, Tool, child_env

WEB = "web"
READY_TIMEOUT_S = 20.0
RELOAD_TIMEOUT_S = 90.0
LOAD_BEFORE_S = 0.5  # load runs this long before the reload command
LOAD_AFTER_S = 2.0  # and this long after it returned
CLIENT_TIMEOUT_S = 5.0
RATE_PER_THREAD = 1000.0  # requests per second each client thread aims at
REQUEST = b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n"
OK_ANSWER = b"HTTP/1.0 200"


@dataclass
class ReloadRun:
    served: int = 0
    failed: int = 0
    slowest_s: float = 0.0
    p99_s: float = 0.0
    reload_s: float = 0.0
    load_s: float = 0.0
    replaced: str = ""
    capped: bool = False
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    reload_output: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reload_under_load(
    tool: Tool, workroot: Path, workers: int, threads: int, max_requests: int
) -> ReloadRun:
    """Start ``workers`` HTTP workers, load them, reload them; count served and failed."""
    port = free_port()
    scenario = Scenario(http_workers=workers, http_port=port)
    with launched(tool, scenario, workroot) as running:
        argv = tool.cli_reload(running.workdir, WEB)
        if argv is None:
            raise BenchError("no reload command")
        before = _wait_serving(running, port, workers)
        run = ReloadRun()
        stop = threading.Event()
        per_thread = max_requests // threads
        counters: list[collections.Counter[str]] = [collections.Counter() for _ in range(threads)]
        latencies: list[list[float]] = [[] for _ in range(threads)]
        clients = [
            threading.Thread(target=_load, args=(port, stop, per_thread, c, t), daemon=True)
            for c, t in zip(counters, latencies, strict=True)
        ]
        load_started = time.perf_counter()
        for client in clients:
            client.start()
        time.sleep(LOAD_BEFORE_S)
        started = time.perf_counter()
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=RELOAD_TIMEOUT_S,
            check=False,
        )
        run.reload_s = time.perf_counter() - started
        run.reload_output = (out.stdout + out.stderr).strip()[-300:]
        stop.wait(LOAD_AFTER_S)
        stop.set()
        for client in clients:
            client.join()
        run.load_s = time.perf_counter() - load_started
        after = _http_workers(running)
        if out.returncode != 0:
            raise BenchError(f"reload exited with status {out.returncode}: {run.reload_output}")
    for counter in counters:
        run.served += counter.pop("served", 0)
        run.capped |= bool(counter.pop("capped", 0))
        run.failed += sum(counter.values())
        run.errors.update(counter)
    run.replaced = f"{len(before - after)} of {len(before)}"
    every = sorted(t for per_thread_times in latencies for t in per_thread_times)
    if every:
        run.slowest_s = every[-1]
        run.p99_s = every[min(len(every) - 1, int(len(every) * 0.99))]
    return run


def _wait_serving(running: Running, port: int, workers: int) -> set[int]:
    """Wait until ``workers`` HTTP workers run and the port answers; return their pids."""
    deadline = time.perf_counter() + READY_TIMEOUT_S
    while True:
        pids = _http_workers(running)
        if len(pids) >= workers and _request(port) == "served":
            return pids
        running.check_alive()
        if time.perf_counter() > deadline:
            raise BenchError(
                f"{len(pids)} of {workers} HTTP workers and no answer on port {port} after "
                f"{READY_TIMEOUT_S:.0f} s; controller log: {running.log_tail()}"
            )
        time.sleep(0.05)


def _http_workers(running: Running) -> set[int]:
    """Pids of the tree that have exec'd httpworker.py."""
    target = os.fsencode(BENCH_DIR / "httpworker.py")
    running.scanner.scan()
    found = set()
    for pid in running.scanner.helpers() - {running.proc.pid}:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if target in f.read().split(b"\0"):
                    found.add(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def _load(
    port: int,
    stop: threading.Event,
    budget: int,
    counts: collections.Counter[str],
    latencies: list[float],
) -> None:
    interval = 1.0 / RATE_PER_THREAD
    due = time.perf_counter()
    for _ in range(budget):
        if stop.is_set():
            return
        started = time.perf_counter()
        counts[_request(port)] += 1
        done = time.perf_counter()
        latencies.append(done - started)
        due = max(due + interval, done - interval)  # no burst to catch up after a slow one
        if due > done:
            time.sleep(due - done)
    counts["capped"] += 1


def _request(port: int) -> str:
    """One request on a fresh connection: "served", or what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) as conn:
            conn.sendall(REQUEST)
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
    except OSError as exc:
        return type(exc).__name__
    if answer.startswith(OK_ANSWER) and answer.endswith(b"\r\n\r\nok\n"):
        return "served"
    return "short or bad answer"
