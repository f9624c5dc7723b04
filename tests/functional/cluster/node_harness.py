"""Cluster nodes as real `ringleader run` processes, each in a folder of its own with its
TLS listener, state file and audit log, plus the cluster console run as a real command.

    nodes = Nodes(tmp_path, etcd.endpoints, pki)
    a = nodes.start("a", labels={"zone": "1"})
    nodes.console("apply", "jobs.toml")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import Client
from ringleader.testing import free_port, pid_exists, terminate, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
TTL = 2


class Node:
    """One node: ``start``, ``kill`` (SIGKILL), ``stop`` (SIGTERM), ``status()``."""

    def __init__(self, root: Path, name: str, etcd: list[str], pki: dict[str, str],
                 token_hash: str, *, prefix: str, labels: dict[str, str] | None = None,
                 extra: str = "", cluster_extra: str = "", port: int | None = None) -> None:
        self.name = name
        self.folder = root / name
        self.folder.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.sock = self.folder / "rl.sock"
        self.config = self.folder / "ringleader.toml"
        self.log = self.folder / "controller.log"
        self.proc: subprocess.Popen[bytes] | None = None
        label_text = ", ".join(f'{k} = "{v}"' for k, v in (labels or {}).items())
        endpoints = ", ".join(f'"{e}"' for e in etcd)
        self.config.write_text(textwrap.dedent(f"""\
            [ringleader]
            endpoint = "unix:{self.sock}"
            [ringleader.tcp]
            listen = "127.0.0.1:{self.port}"
            tls_cert = "{pki['server_cert']}"
            tls_key = "{pki['server_key']}"
            [[ringleader.tokens]]
            name = "console"
            role = "admin"
            hash = "{token_hash}"
            """) + extra + textwrap.dedent(f"""
            [cluster]
            etcd = [{endpoints}]
            name = "{name}"
            prefix = "{prefix}"
            ttl = {TTL}
            settle = 0
            discover_members = false
            timeout = 1.0
            labels = {{{label_text}}}
            """) + cluster_extra)

    def start(self) -> Node:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*RINGLEADER, "run", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        wait_until_sync(self.answers, timeout=20, what=f"node {self.name} to answer")
        return self

    def answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"node {self.name} exited:\n{self.log_tail()}")
        try:
            self.status()
        except Exception:
            return False
        return True

    def status(self) -> dict[str, Any]:
        with Client(f"unix:{self.sock}", timeout=5) as client:
            return dict(client.call("status"))

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A local console command against this node."""
        return subprocess.run([*RINGLEADER, *args, "-e", f"unix:{self.sock}"],
                              capture_output=True, text=True, timeout=60)

    def pids(self, job: str = "web") -> list[int]:
        for w in self.status()["watchers"]:
            if w["name"] == job:
                return sorted(p["pid"] for p in w["processes"] if p.get("pid"))
        return []

    def running(self, job: str = "web") -> int:
        for w in self.status()["watchers"]:
            if w["name"] == job:
                return int(w["running"])
        return 0

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_bytes()[-size:].decode(errors="replace") if self.log.exists() \
            else ""


class Nodes:
    """The nodes of one test, and the console pointed at them."""

    def __init__(self, root: Path, etcd: list[str], pki: dict[str, str], *,
                 prefix: str = "/ringleader/default") -> None:
        self.root = root
        self.etcd = etcd
        self.pki = pki
        self.prefix = prefix
        self.token = new_token()
        self._hash = hash_token(self.token)
        self.nodes: dict[str, Node] = {}

    def add(self, name: str, **kwargs: Any) -> Node:
        node = Node(self.root, name, kwargs.pop("etcd", self.etcd), self.pki, self._hash,
                    prefix=self.prefix, **kwargs)
        self.nodes[name] = node
        return node

    def start(self, name: str, **kwargs: Any) -> Node:
        return self.add(name, **kwargs).start()

    def console(self, *args: str, timeout: float = 60, etcd: list[str] | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RINGLEADER_TOKEN": self.token, **(env or {})}
        return subprocess.run(
            [*RINGLEADER, "cluster", *args, "--etcd", ",".join(etcd or self.etcd),
             "--prefix", self.prefix, "--cafile", self.pki["ca"]],
            capture_output=True, text=True, timeout=timeout, env=env)

    def console_json(self, *args: str) -> tuple[int, Any]:
        result = self.console(*args, "--json")
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        return result.returncode, json.loads(lines[-1]) if lines else None

    def jobs_file(self, text: str, name: str = "jobs.toml") -> str:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    def counts(self, job: str = "web") -> dict[str, int]:
        return {name: n.running(job) for name, n in self.nodes.items() if n.proc}

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.stop()


def all_gone(pids: list[int]) -> bool:
    return not any(pid_exists(p) for p in pids)
