"""A real controller (`ringleader run CONFIG`, our child) and the console as whole
processes, for the issue-13 console tests (test_console_ops, test_console_terminal)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.testing import wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
DEADLINE = 30.0

# Prints one line on each stream at start, and "late" lines on SIGUSR1.
TALKER = textwrap.dedent("""\
    import os, signal, sys, time
    wid = os.environ["RINGLEADER_WID"]
    def late(*_):
        print("late out", wid, flush=True)
        print("late err", wid, file=sys.stderr, flush=True)
    signal.signal(signal.SIGUSR1, late)
    print("early out", wid, flush=True)
    print("early err", wid, file=sys.stderr, flush=True)
    while True:
        time.sleep(600)
    """)
# Takes a while to stop: SIGTERM is noted, the exit comes 2 s later.
SLOW = textwrap.dedent("""\
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: (time.sleep(2), sys.exit(0)))
    while True:
        time.sleep(600)
    """)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = DEADLINE,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RINGLEADER, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def status_of(endpoint: str) -> dict[str, Any] | None:
    try:
        with Client(endpoint, timeout=5) as client:
            result: dict[str, Any] = client.call("status")
            return result
    except (Unreachable, ApiError):
        return None


class Controller:
    """`ringleader run CONFIG` as our child; ready once `ready(status)` holds."""

    def __init__(self, directory: Path, config: str,
                 ready: Callable[[dict[str, Any]], bool] | None = None,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.dir = directory
        self.config = directory / "ringleader.toml"
        self.config.write_text(config)
        self.endpoint = f"unix:{directory}/ringleader.sock"
        self.log = directory / "run.log"
        ready = ready or (lambda s: all(w["running"] == w["numprocesses"]
                                        for w in s["watchers"]))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*RINGLEADER, "run", str(self.config), *args],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)

        def up() -> bool:
            status = status_of(self.endpoint)
            return self.proc.poll() is not None or (status is not None and ready(status))

        try:
            wait_until_sync(up, timeout=DEADLINE, what="the controller's API and watchers")
        except BaseException:
            self.stop()
            raise
        assert self.proc.poll() is None, self.log.read_text()

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-e", self.endpoint, env=env)

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
