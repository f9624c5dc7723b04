"""Cluster benchmark: real etcd, N real `ringleader run` nodes on this machine.

    python bench/cluster.py [--quick] [--out bench/RESULTS.md]

Figures (written to the "Cluster" section of RESULTS.md, between its markers):
apply -> converged with 3 and 20 agents; failover after an agent's SIGKILL (median of 5;
goal <= ttl + 2 s); fan-out `cluster status` latency with 3 and 20 nodes (goal < 100 ms at
20); restarts during a 30 s etcd outage (goal 0); a controller's RSS and start time with
and without [cluster]. --quick: 3 failovers, a 10 s outage, fewer samples.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import Client
from ringleader.cluster import Cluster, EtcdSettings, NodeCredentials, job_from_dict
from ringleader.testing import free_port, make_test_pki

BENCH = Path(__file__).resolve().parent
TTL = 5
START, END = "<!-- cluster:start -->", "<!-- cluster:end -->"


def log(text: str) -> None:
    print(f"[cluster] {text}", file=sys.stderr, flush=True)


def wait(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(poll)


class Etcd:
    def __init__(self, root: Path) -> None:
        self.dir = root / "etcd"
        self.port, self.peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer}"
        with open(self.dir.parent / "etcd.log", "ab") as out:
            self.proc = subprocess.Popen(
                ["etcd", "--name", "m", "--data-dir", str(self.dir), "--listen-client-urls",
                 self.url, "--advertise-client-urls", self.url, "--listen-peer-urls", peer,
                 "--initial-advertise-peer-urls", peer, "--initial-cluster", f"m={peer}",
                 "--log-level", "warn"], stdout=out, stderr=subprocess.STDOUT)
        import urllib.request

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    return b'"true"' in r.read()
            except OSError:
                return False

        wait(healthy, 30, "etcd healthy", 0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Node:
    def __init__(self, root: Path, name: str, etcd: str | None, pki: dict[str, str],
                 token_hash: str, *, local: bool = False) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "rl.sock"
        self.config = self.dir / "ringleader.toml"
        self.proc: subprocess.Popen[bytes] | None = None
        cluster = "" if etcd is None else textwrap.dedent(f"""
            [cluster]
            etcd = ["{etcd}"]
            name = "{name}"
            ttl = {TTL}
            settle = 0
            """)
        local = '[watchers.local]\ncmd = "sleep 3600"\nnumprocesses = 2\n' if local else ""
        self.config.write_text(textwrap.dedent(f"""\
            [ringleader]
            endpoint = "unix:{self.sock}"
            [ringleader.tcp]
            listen = "127.0.0.1:{free_port()}"
            tls_cert = "{pki['server_cert']}"
            tls_key = "{pki['server_key']}"
            [[ringleader.tokens]]
            name = "bench"
            role = "admin"
            hash = "{token_hash}"
            """) + local + cluster)

    def start(self) -> float:
        """Start; seconds until its API answers."""
        began = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        with open(self.dir / "controller.log", "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ringleader", "run",
                                          str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        wait(self.answers, 30, f"node {self.name}", 0.002)
        return time.perf_counter() - began

    def answers(self) -> bool:
        try:
            self.status()
        except Exception:
            return False
        return True

    def status(self) -> dict[str, Any]:
        with Client(f"unix:{self.sock}", timeout=5) as c:
            return dict(c.call("status"))

    def running(self, job: str = "web") -> tuple[int, frozenset[int], int]:
        """Running processes of the job here, their pids, their restarts in all."""
        for w in self.status()["watchers"]:
            if w["name"] == job:
                procs = w["processes"]
                return (w["running"], frozenset(p["pid"] for p in procs if p["pid"]),
                        sum(p["restarts"] for p in procs))
        return 0, frozenset(), 0

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class Bench:
    def __init__(self, root: Path, quick: bool) -> None:
        self.root = root
        self.quick = quick
        self.pki = make_test_pki(str(root))
        self.token = new_token()
        self.hash = hash_token(self.token)
        self.etcd = Etcd(root)
        self.nodes: list[Node] = []
        self.results: list[tuple[str, str, str]] = []

    def cluster(self, prefix: str = "/ringleader/default") -> Cluster:
        return Cluster(EtcdSettings(endpoints=[self.etcd.url], discover_members=False),
                       prefix=prefix, credentials=NodeCredentials(token=self.token,
                                                                  cafile=self.pki["ca"]))

    def add(self, figure: str, unit: str, value: str) -> None:
        log(f"{figure}: {value} {unit}")
        self.results.append((figure, unit, value))

    def start_nodes(self, count: int) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root / "nodes", ignore_errors=True)
        self.nodes = [Node(self.root / "nodes", f"n{i:02d}", self.etcd.url, self.pki,
                           self.hash) for i in range(count)]
        for node in self.nodes:
            node.start()
        asyncio.run(self._registered(count))

    async def _registered(self, count: int) -> None:
        async with self.cluster() as c:
            while len((await c.snapshot()).nodes) != count:
                await asyncio.sleep(0.05)

    def converged(self, job: str, per_node: int) -> bool:
        return all(n.running(job)[0] == per_node for n in self.nodes if n.proc)

    def apply_to_converged(self, count: int) -> None:
        """A fresh job of 2 processes per node on a cluster of ``count`` nodes (the jobs
        of before removed first): from the apply's call to every process running."""
        asyncio.run(self._remove_jobs())
        self.start_nodes(count)
        job = job_from_dict("web", {"cmd": "sleep 3600", "count": 2 * count})

        async def apply() -> None:
            async with self.cluster() as c:
                await c.apply({"web": job})

        began = time.perf_counter()
        asyncio.run(apply())
        try:
            wait(lambda: self.converged("web", 2), 60, "converged", 0.005)
        except TimeoutError:
            raise TimeoutError("not converged: " + ", ".join(
                f"{n.name}={n.running('web')[0]}" for n in self.nodes)) from None
        self.add(f"apply -> converged, {count} agents, {2 * count} processes", "ms",
                 f"{(time.perf_counter() - began) * 1000:.0f}")

    def fan_out(self, count: int) -> None:
        samples = 10 if self.quick else 30

        async def measure(reuse: bool) -> list[float]:
            times = []
            async with self.cluster() as c:
                await c.status()  # the etcd connection and TLS context are made once
                for _ in range(samples):
                    if reuse:
                        began = time.perf_counter()
                        view = await c.status()
                    else:  # every node's TLS handshake again, as a new console would
                        c.nodes_api.close()
                        began = time.perf_counter()
                        view = await c.status()
                    times.append(time.perf_counter() - began)
                    assert not view.failed, view.failed
            return times

        for reuse, what in ((False, "new TLS connections"), (True, "connections reused")):
            times = asyncio.run(measure(reuse))
            self.add(f"`cluster status` fan-out (library, {what}), {count} nodes, median "
                     f"of {samples}", "ms", f"{statistics.median(times) * 1000:.1f}")
        runs = []
        env = {**os.environ, "RINGLEADER_TOKEN": self.token}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for _ in range(5):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ringleader", "cluster", "status", "--etcd",
                            self.etcd.url, "--cafile", self.pki["ca"]], env=env,
                           capture_output=True, check=True)
            runs.append(time.perf_counter() - began)
        self.add(f"`ringleader cluster status` command, {count} nodes, median of 5", "ms",
                 f"{statistics.median(runs) * 1000:.0f}")

    def failover(self) -> None:
        rounds = 3 if self.quick else 5
        times = []
        for _ in range(rounds):
            snap = asyncio.run(self._snapshot())
            scheduler = snap.scheduler.node if snap.scheduler else None
            victim = next(n for n in self.nodes if n.name != scheduler and n.running()[0])
            total = sum(n.running()[0] for n in self.nodes)
            victim.kill()
            began = time.perf_counter()
            wait(lambda total=total: sum(n.running()[0] for n in self.nodes if n.proc)
                 == total, TTL + 30, "failover", 0.01)
            times.append(time.perf_counter() - began)
            victim.start()
            asyncio.run(self._registered(len(self.nodes)))
        self.add(f"failover after an agent's SIGKILL, ttl {TTL} s, median of {rounds} "
                 f"(goal <= {TTL + 2} s)", "s", f"{statistics.median(times):.2f} "
                 f"(max {max(times):.2f})")

    async def _remove_jobs(self) -> None:
        async with self.cluster() as c:
            for name in (await c.snapshot()).jobs:
                await c.remove(name)

    async def _snapshot(self) -> Any:
        async with self.cluster() as c:
            return await c.snapshot()

    def outage(self) -> None:
        seconds = 10 if self.quick else 30
        before = {n.name: n.running() for n in self.nodes}
        self.etcd.kill()
        time.sleep(seconds)  # the outage itself: what is measured is what happens in it
        self.etcd.start()
        wait(lambda: all(n.status()["cluster"]["connected"] for n in self.nodes), 60,
             "reconnected", 0.05)
        after = {n.name: n.running() for n in self.nodes}
        changed = sum(len(before[n][1] - after[n][1]) + (after[n][2] - before[n][2])
                      for n in before)
        self.add(f"restarts during a {seconds} s etcd outage, {len(self.nodes)} nodes, "
                 f"{sum(b[0] for b in before.values())} processes (goal 0)", "",
                 str(changed))

    def footprint(self) -> None:
        rss: dict[str, list[float]] = {"without": [], "with": []}
        starts: dict[str, list[float]] = {"without": [], "with": []}
        for i in range(3 if self.quick else 5):
            for kind in ("without", "with"):
                node = Node(self.root / "footprint", f"{kind}{i}",
                            None if kind == "without" else self.etcd.url, self.pki,
                            self.hash, local=True)
                starts[kind].append(node.start())
                if kind == "with":
                    wait(lambda n=node: n.status()["cluster"]["connected"], 20, "joined")
                wait(lambda n=node: n.running("local")[0] == 2, 20, "up")
                time.sleep(1.0)  # let the start's allocations settle before reading RSS
                rss[kind].append(node.rss_mb())
                node.stop()
        for kind in ("without", "with"):
            self.add(f"controller RSS {kind} [cluster], median", "MB",
                     f"{statistics.median(rss[kind]):.1f}")
            self.add(f"controller start to API answering {kind} [cluster], median", "ms",
                     f"{statistics.median(starts[kind]) * 1000:.0f}")

    def run(self) -> None:
        self.etcd.dir.parent.mkdir(parents=True, exist_ok=True)
        self.etcd.start()
        try:
            self.footprint()
            self.apply_to_converged(3)
            self.fan_out(3)
            self.apply_to_converged(20)
            self.fan_out(20)
            self.failover()
            self.outage()
        finally:
            for node in self.nodes:
                node.stop()
            self.etcd.kill()


def section(results: list[tuple[str, str, str]], command: str, load: str) -> str:
    rows = "\n".join(f"| {f} | {u} | {v} |" for f, u, v in results)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return textwrap.dedent(f"""\
        {START}
        ## Cluster (`{command}`)

        {when}, {os.cpu_count()} CPUs; load average (1/5/15 min): {load}.
        One etcd member and every node on this machine, each node a `ringleader run`
        process with its TLS listener; jobs of `sleep`; the agents' ttl is {TTL} s. The
        fan-out figures are the library's `Cluster.status()` (an etcd read, then every
        node's `/v1/status` at once); the command's add Python's start and imports.

        | figure | unit | value |
        |---|---|---:|
        """) + rows + "\n" + END + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args(argv)
    if shutil.which("etcd") is None:
        print("error: etcd is not installed (Debian: apt-get install etcd-server)",
              file=sys.stderr)
        return 2
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="rl-cluster-bench-") as tmp:
        bench = Bench(Path(tmp), args.quick)
        try:
            bench.run()
        except KeyboardInterrupt:
            return 130
    command = "python bench/cluster.py" + (" --quick" if args.quick else "")
    text = args.out.read_text() if args.out.exists() else ""
    if START in text:
        text = text[:text.index(START)] + text[text.index(END) + len(END) + 1:]
    load += " at start, " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " at end"
    args.out.write_text(text.rstrip("\n") + "\n\n" + section(bench.results, command, load))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
