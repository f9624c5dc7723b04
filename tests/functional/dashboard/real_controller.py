"""A real controller for the browser tests: `ringleader run CONFIG` as our child, with real
workers, and the links `ringleader dashboard` makes.

The workers of `TALKER` print "ready WID" when they start and, on SIGUSR1, the text of
the file `say.txt` next to the config (so a test makes a worker print what it chooses);
`say()` writes it and signals one worker. With `tls`, the controller also has a TLS
listener (the test CA's certificate names 127.0.0.1 and localhost) and two API tokens,
`read` and `admin`, for the login form.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.testing import free_port, make_test_pki, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
DEADLINE = 30.0

TALKER = textwrap.dedent("""\
    import os, signal, sys, time
    wid = os.environ["RINGLEADER_WID"]
    say = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "say.txt")
    def speak(*_):
        with open(say) as f:
            print(f.read(), flush=True)
    signal.signal(signal.SIGUSR1, speak)
    print("ready", wid, flush=True)
    while True:
        time.sleep(600)
    """)


class RealController:
    """`ringleader run` on a config with a `worker` watcher of `workers` TALKERs."""

    def __init__(self, directory: Path, *, workers: int = 3, tls: bool = False,
                 extra: str = "") -> None:
        self.dir = directory
        self.socket = f"unix:{directory}/rl.sock"
        (directory / "talker.py").write_text(TALKER)
        (directory / "say.txt").write_text("")
        config = f"""
[ringleader]
endpoint = "{self.socket}"
loglevel = "info"
[watchers.worker]
cmd = "{sys.executable} -u {directory}/talker.py"
numprocesses = {workers}
graceful_timeout = 5
"""
        self.tokens: dict[str, str] = {}
        self.port: int | None = None
        self._base: str | None = None
        if tls:
            pki = make_test_pki(str(directory))
            self.port = free_port()
            self.ca = pki["ca"]
            self.tokens = {role: new_token() for role in ("read", "admin")}
            config += f"""
[ringleader.tcp]
listen = "127.0.0.1:{self.port}"
tls_cert = "{pki['server_cert']}"
tls_key = "{pki['server_key']}"
""" + "".join(f"""
[[ringleader.tokens]]
name = "{role}-token"
role = "{role}"
hash = "{hash_token(token)}"
""" for role, token in self.tokens.items())
        self.config = directory / "ringleader.toml"
        self.config.write_text(config + extra)
        self.log = directory / "run.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*RINGLEADER, "run", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT, cwd=directory)
        try:
            wait_until_sync(lambda: self.proc.poll() is not None or self._all_running(),
                            timeout=DEADLINE, what="the controller and its workers")
        except BaseException:
            self.stop()
            raise
        assert self.proc.poll() is None, self.log.read_text()

    def _all_running(self) -> bool:
        """Every worker runs and has said "ready" (its SIGUSR1 handler is installed)."""
        try:
            status = self.call("status")
            lines = self.call("logs", query={"watcher": "worker", "lines": "100"})["lines"]
        except (ApiError, Unreachable):
            return False
        ready = {line["wid"] for line in lines if line["line"].startswith("ready")}
        # With a TCP listener the API answers before the watchers exist: none yet is
        # not "all running".
        watchers = status["watchers"]
        return bool(watchers) and all(w["running"] == w["numprocesses"] for w in watchers) \
            and len(ready) == watchers[0]["numprocesses"]

    # -- the console's side -------------------------------------------------------------
    def call(self, op: str, **kwargs: Any) -> Any:
        with Client(self.socket, timeout=DEADLINE) as client:
            return client.call(op, **kwargs)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RINGLEADER, *args, "-e", self.socket], capture_output=True,
                              text=True, timeout=DEADLINE)

    def one_time_url(self, role: str = "admin") -> str:
        url: str = self.call("dashboard", body={"role": role})["url"]
        return url

    def url(self, path: str = "/ui/") -> str:
        """On the loopback listener (opened by the first link)."""
        if self._base is None:
            self._base = self.one_time_url("read").partition("/ui/")[0]
        return self._base + path

    def tls_url(self, path: str = "/ui/", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    # -- what tests look at -------------------------------------------------------------
    def pids(self, watcher: str = "worker") -> list[int]:
        info = self.call("get_watcher", name=watcher)
        return [p["pid"] for p in info["processes"] if p["pid"]]

    def children(self) -> set[int]:
        """The live processes the controller runs (its children, psutil's view)."""
        return {p.pid for p in psutil.Process(self.proc.pid).children()
                if p.status() != psutil.STATUS_ZOMBIE and "talker.py" in " ".join(p.cmdline())}

    def say(self, text: str, pid: int | None = None) -> None:
        """Make a worker print *text* (the first one, or *pid*)."""
        (self.dir / "say.txt").write_text(text)
        psutil.Process(pid or self.pids()[0]).send_signal(signal.SIGUSR1)

    def audit(self) -> list[dict[str, Any]]:
        path = self.dir / "ringleader-audit.log"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
