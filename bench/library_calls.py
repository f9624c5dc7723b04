"""The library's cost per call: a BackgroundArbiter's blocking methods, timed from the
application's threads (each call crosses to the engine's loop thread and back).

    .venv/bin/python bench/library_calls.py [--calls N]

Prints one JSON object: start and stop of 10 workers, and p50/p95 of `numprocesses`
(the crossing alone), `status(name)` of a 10-process watcher, `incr` + `decr` (spawn and
graceful stop included), from one thread and from 4 at once. Figures move with the machine:
compare runs on the same one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from ringleader import get_arbiter


def timed(call: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_us": round(statistics.median(ordered) * 1e6, 1),
            "p95_us": round(ordered[int(len(ordered) * 0.95) - 1] * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    result: dict[str, Any] = {"calls": calls}
    arbiter = get_arbiter("sleep 3600", 10, stdout_stream={"kind": "null"})
    t0 = time.perf_counter()
    arbiter.start()
    result["start_10_workers_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    try:
        timed(lambda: arbiter.numprocesses("sleep"), 200)  # warm-up
        result["numprocesses"] = summary(timed(lambda: arbiter.numprocesses("sleep"), calls))
        result["status_one_watcher_10_processes"] = summary(
            timed(lambda: arbiter.status("sleep"), calls))
        per_thread: list[list[float]] = [[] for _ in range(4)]

        def worker(i: int) -> None:
            per_thread[i] = timed(lambda: arbiter.numprocesses("sleep"), calls // 4)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        merged = [s for part in per_thread for s in part]
        result["numprocesses_4_threads"] = {**summary(merged),
                                            "calls_per_s": round(len(merged) / elapsed)}
        scale = timed(lambda: (arbiter.incr("sleep"), arbiter.decr("sleep")), 100)
        result["incr_then_decr"] = summary(scale)
    finally:
        t0 = time.perf_counter()
        arbiter.stop()
        result["stop_10_workers_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
