"""Soak: does the controller leak? Its RSS and open fds before and after many cycles.

    .venv/bin/python bench/soak.py                       # 10,000 respawns, 2,000 API cycles
    .venv/bin/python bench/soak.py --respawns 500 --cycles 100 --json   # what the test runs

One `ringleader run` with two watchers: `steady` (2 sleepers, always up) and `churn` (4
processes of `/bin/echo`, each exiting at once and respawned at once: `min_uptime = 0`,
their output to a log file rotated every 256 KiB). Phases:

1. warm-up: `churn` runs 200 respawns, then 20 API cycles (below): every code path has
   run once (lazy imports, caches, the state file and the audit log exist). Then the
   baseline: the controller's RSS and its open fd count, `churn` stopped.
2. respawns: `churn` started until its processes were respawned N times in all, stopped.
3. API cycles: M times, through the control API (one client, one connection): `add` a
   watcher (1 sleeper, started), `incr` it, `decr` it, `set` an option that replaces its
   process (`env`), `rm` it.

After each phase, with `churn` stopped and the same processes up as at the baseline, the
controller's RSS and fd count are read, the latter once it has not moved for half a
second (a state file being written holds one for milliseconds). A leak shows as growth
between phases; the fd count must come back exactly to the baseline. Output: a table on
stdout (or JSON with --json); `--results FILE` appends it as a section to a markdown file
(bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from ringleader.api.client import Client, Unreachable

CONFIG = """
[ringleader]
loglevel = "warning"
endpoint = "unix:{sock}"
statefile = "{state}"
audit_log = "{audit}"

[watchers.steady]
cmd = "/usr/bin/sleep 3600"
numprocesses = 2
[watchers.steady.stdout_stream]
kind = "null"

[watchers.churn]
cmd = "/bin/echo respawned"
numprocesses = 4
autostart = false
[watchers.churn.backoff]
min_uptime = 0
[watchers.churn.stdout_stream]
kind = "file"
filename = "{churn_log}"
max_bytes = 262144
backup_count = 2
"""

WARMUP_RESPAWNS = 200
WARMUP_CYCLES = 20
SETTLE = 5.0  # seconds the fd count may take to settle after a phase
STEADY = 0.5  # seconds without a change: settled


@dataclass
class Sample:
    phase: str
    seconds: float  # since the controller started
    rss_mb: float
    fds: int


class Soak:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        sock = workdir / "ringleader.sock"
        (workdir / "ringleader.toml").write_text(CONFIG.format(
            sock=sock, state=workdir / "ringleader.state",
            audit=workdir / "ringleader-audit.log", churn_log=workdir / "churn.log"))
        self.log = open(workdir / "controller.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ringleader", "run", str(workdir / "ringleader.toml")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        self.started = time.monotonic()
        self.client = Client(f"unix:{sock}", timeout=60)
        self.samples: list[Sample] = []
        self._wait(lambda: self._status() is not None, 30, "the control API")

    # -- observation --------------------------------------------------------------------

    def _status(self) -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = self.client.call("status")
        except (Unreachable, OSError):
            self.client.close()
            return None
        return status

    def _wait(self, predicate: Any, timeout: float, what: str, pause: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the controller exited ({self.proc.returncode}) "
                                   f"waiting for {what}; see {self.dir}/controller.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(pause)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def settled_fds(self) -> int:
        """The fd count once it has not moved for STEADY seconds (up to SETTLE): a state
        file being written or a process being reaped holds a few for milliseconds."""
        deadline = time.monotonic() + SETTLE
        count, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < STEADY:
            time.sleep(0.02)
            now = self.fds()
            if now != count:
                count, since = now, time.monotonic()
        return count

    def sample(self, phase: str) -> Sample:
        fds = self.settled_fds()
        rss = psutil.Process(self.proc.pid).memory_info().rss / 1e6
        s = Sample(phase, round(time.monotonic() - self.started, 1), round(rss, 1), fds)
        self.samples.append(s)
        return s

    def restarts(self, name: str) -> int:
        status = self._status() or {"watchers": []}
        return sum(p["restarts"] for w in status["watchers"] if w["name"] == name
                   for p in w["processes"])

    # -- load ---------------------------------------------------------------------------

    def respawns(self, count: int) -> None:
        """Run `churn` until its processes were respawned `count` more times."""
        start = self.restarts("churn")
        self.client.call("start", name="churn")
        self._wait(lambda: self.restarts("churn") - start >= count, 600,
                   f"{count} respawns", pause=0.2)
        self.client.call("stop", name="churn")

    def api_cycles(self, count: int, first: int = 0) -> None:
        for i in range(first, first + count):
            name = f"soak{i}"
            self.client.call("add", body={
                "name": name, "cmd": "/usr/bin/sleep 3600", "start": True,
                # min_uptime 0: the reload `set` makes need not wait for the new process
                # to prove itself for a second (a soak wants many cycles).
                "options": {"stdout_stream": {"kind": "null"}, "graceful_timeout": 5,
                            "backoff": {"min_uptime": 0}}})
            self.client.call("incr", name=name, body={"count": 1})
            self.client.call("decr", name=name, body={"count": 1})
            self.client.call("set", name=name, body={"options": {"env": {"CYCLE": str(i)}}})
            self.client.call("rm", name=name)

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.log.close()
        return code


def run(respawns: int, cycles: int, workdir: Path) -> dict[str, Any]:
    soak = Soak(workdir)
    try:
        soak.respawns(WARMUP_RESPAWNS)
        soak.api_cycles(WARMUP_CYCLES, first=-WARMUP_CYCLES)
        soak.sample("start")
        base = soak.samples[-1].fds
        t0 = time.monotonic()
        soak.respawns(respawns)
        respawn_s = time.monotonic() - t0
        soak.sample(f"after {respawns} respawns")
        t0 = time.monotonic()
        soak.api_cycles(cycles)
        cycle_s = time.monotonic() - t0
        end = soak.sample(f"after {cycles} API cycles")
    finally:
        code = soak.stop()
    return {
        "respawns": respawns, "respawn_seconds": round(respawn_s, 1),
        "api_cycles": cycles, "api_cycle_seconds": round(cycle_s, 1),
        "samples": [asdict(s) for s in soak.samples],
        "fds_baseline": base, "fds_end": end.fds,
        "rss_start_mb": soak.samples[0].rss_mb, "rss_end_mb": end.rss_mb,
        "exit_code": code,
    }


def table(result: dict[str, Any]) -> str:
    lines = ["| phase | time (s) | controller RSS (MB) | open fds |", "|---|---:|---:|---:|"]
    lines += [f"| {s['phase']} | {s['seconds']} | {s['rss_mb']} | {s['fds']} |"
              for s in result["samples"]]
    return "\n".join(lines)


def section(result: dict[str, Any], command: str) -> str:
    ver = subprocess.run([sys.executable, "-m", "ringleader", "--version"],
                         capture_output=True, text=True, check=False).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"\n## Soak: {result['respawns']:,} respawns, {result['api_cycles']:,} API cycles\n\n"
            f"- **date**: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{os.cpu_count()} CPUs; {ver}; load average {load} at the end\n"
            f"- **command**: `{command}` (method: the docstring of `bench/soak.py`)\n"
            f"- respawns took {result['respawn_seconds']} s, the API cycles (add, incr, "
            f"decr, set, rm: 5 calls each) {result['api_cycle_seconds']} s\n\n"
            f"{table(result)}\n\n"
            f"Open fds at the end: {result['fds_end']} for {result['fds_baseline']} at the "
            f"start; RSS {result['rss_start_mb']} MB at the start, "
            f"{result['rss_end_mb']} MB at the end.\n")


@contextlib.contextmanager
def scratch(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ringleader-soak-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respawns", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--results", help="append the result as a section to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    with scratch(args.keep) as workdir:
        result = run(args.respawns, args.cycles, workdir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    if args.results:
        command = "python bench/soak.py" + (" " + " ".join(argv) if argv else "")
        with open(args.results, "a") as f:
            f.write(section(result, command.replace(f" --results {args.results}", "")))
    return 0 if result["fds_end"] == result["fds_baseline"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
