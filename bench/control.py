"""Control latency: ``status`` through each tool's API (client library) and its console.

The controllers run side by side, each with the same few sleepers, so console runs can be
interleaved tool by tool (drift hits every tool alike).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass

from peers import BENCH_DIR, Tool, child_env

API_TIMEOUT_S = 120.0
CLI_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ApiLatency:
    p50: float  # seconds
    p95: float
    answer_chars: int


def api_latency(tool: Tool, endpoint: str, warmup: int, calls: int) -> ApiLatency:
    """Run bench/apiclient.py with the tool's own interpreter and library; read its timings."""
    argv = [str(tool.python()), str(BENCH_DIR / "apiclient.py"), tool.name, endpoint]
    out = subprocess.run(
        [*argv, str(warmup), str(calls)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=API_TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"API client exited with status {out.returncode}: {tail}")
    data = json.loads(out.stdout)
    seconds = data["seconds"]
    return ApiLatency(
        p50=statistics.median(seconds),
        p95=statistics.quantiles(seconds, n=20, method="inclusive")[-1],
        answer_chars=data["answer_chars"],
    )


def cli_once(argv: list[str]) -> tuple[float, int, str]:
    """Wall seconds of one console command (output discarded), its exit status, stderr tail."""
    started = time.perf_counter()
    out = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    seconds = time.perf_counter() - started
    return seconds, out.returncode, out.stderr.decode(errors="replace").strip()[-200:]
