"""What hostile-but-authenticated API clients cost the controller (issue 8 item 13).

Not part of `run.py`'s comparison: it measures one Ringleader controller, from outside,
under two loads, and prints the controller's CPU seconds over the window and the latency of
`status` asked meanwhile:

- `streams`: N clients follow /v1/stats/stream at `--interval` (the floor is 0.5 s);
- `chunks`: N clients send, again and again, a body of one-byte chunks (`--chunks` each).

    .venv/bin/python bench/api_cost.py streams --clients 200 --interval 0.5 --seconds 15
    .venv/bin/python bench/api_cost.py chunks --clients 8 --chunks 100000 --seconds 10

`--src DIR` runs the controller from another checkout's `src` (e.g. to compare with main).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

SLEEPERS = 20


def start_controller(directory: Path, src: str | None) -> tuple[subprocess.Popen[bytes], str]:
    sock = directory / "rl.sock"
    config = directory / "ringleader.toml"
    config.write_text(f'[ringleader]\nendpoint = "unix:{sock}"\nloglevel = "warning"\n'
                      f'[watchers.sleeper]\ncmd = "sleep 3600"\nnumprocesses = {SLEEPERS}\n'
                      '[watchers.sleeper.stdout_stream]\nkind = "null"\n')
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if src:
        env["PYTHONPATH"] = src
    proc = subprocess.Popen([sys.executable, "-m", "ringleader", "run", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if b" 200 " in ask(str(sock), b"GET /v1/status HTTP/1.1\r\nHost: x\r\n"
                                              b"Connection: close\r\n\r\n"):
                return proc, str(sock)
        except OSError:
            pass
        time.sleep(0.05)  # polling the controller's start-up, a bench not a test
    proc.kill()
    raise SystemExit("the controller did not answer within 30 s")


def ask(path: str, request: bytes, timeout: float = 60.0) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


def follow_stats(path: str, interval: float, stop: threading.Event) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(f"GET /v1/stats/stream?interval={interval} HTTP/1.1\r\nHost: x\r\n\r\n"
                  .encode())
        s.settimeout(1.0)
        while not stop.is_set():
            try:
                if not s.recv(65536):
                    return
            except TimeoutError:
                continue


def send_chunks(path: str, chunks: int, stop: threading.Event) -> None:
    payload = b'{"count": 1' + b" " * (chunks - 12) + b"}"
    body = b"".join(b"1\r\n%c\r\n" % c for c in payload) + b"0\r\n\r\n"
    head = (b"POST /v1/watchers/sleeper/incr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stop.is_set():
        try:
            ask(path, head + body)
        except OSError:
            pass  # refused and closed mid-body: what a bounded server does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("load", choices=("streams", "chunks"))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--src", help="run the controller from this src folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rl-api-cost-") as tmp:
        proc, path = start_controller(Path(tmp), args.src)
        me = psutil.Process(proc.pid)
        stop = threading.Event()
        target, extra = ((follow_stats, args.interval) if args.load == "streams"
                         else (send_chunks, args.chunks))
        threads = [threading.Thread(target=target, args=(path, extra, stop), daemon=True)
                   for _ in range(args.clients)]
        try:
            for t in threads:
                t.start()
            time.sleep(1.0)  # let every client connect: the window measures the steady state
            before = sum(me.cpu_times()[:2])
            start = time.monotonic()
            latencies = []
            while time.monotonic() - start < args.seconds:
                t0 = time.monotonic()
                ask(path, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                latencies.append(time.monotonic() - t0)
                time.sleep(0.25)  # the status poll's period
            cpu = sum(me.cpu_times()[:2]) - before
            elapsed = time.monotonic() - start
        finally:
            stop.set()
            proc.terminate()
            proc.wait(30)
    print(f"{args.load}: {args.clients} clients, {elapsed:.1f} s: controller CPU {cpu:.2f} s "
          f"({100 * cpu / elapsed:.0f}% of a core); status p50 "
          f"{1000 * statistics.median(latencies):.1f} ms, max {1000 * max(latencies):.1f} ms "
          f"({len(latencies)} calls)")


if __name__ == "__main__":
    main()
