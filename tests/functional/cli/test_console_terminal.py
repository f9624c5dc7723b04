"""The console on a real terminal (tmux) against a real controller: the progress line of a
long operation, and nothing of it off a terminal. Polling the screen is the last resort
here: a terminal sends no events."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_controller import RINGLEADER, SLOW, Controller

from ringleader.testing import python_cmd

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    def __init__(self, tmp_path: Path) -> None:
        self.name = f"rl-console-{os.getpid()}-{id(self)}"
        self.tmux = ["tmux", "-L", self.name, "-f", "/dev/null"]
        self.dir = tmp_path

    def run(self, argv: list[str]) -> None:
        script = self.dir / "term.sh"
        script.write_text(f"cd {shlex.quote(str(self.dir))}\n{shlex.join(argv)}\n"
                          "echo $? > rc.tmp && mv rc.tmp rc\nexec cat\n")
        import subprocess

        subprocess.run([*self.tmux, "new-session", "-d", "-x", "150", "-y", "20", "sh",
                        str(script)], check=True, timeout=10,
                       env={**os.environ, "TERM": "xterm-256color"})

    def screen(self) -> str:
        import subprocess

        return subprocess.run([*self.tmux, "capture-pane", "-p"], capture_output=True,
                              text=True, timeout=10).stdout

    def wait(self, cond: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")
            time.sleep(0.02)

    def close(self) -> None:
        import subprocess

        subprocess.run([*self.tmux, "kill-server"], timeout=10, capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    yield term
    term.close()


@pytest.mark.timeout(90)
def test_a_slow_stop_shows_progress_on_a_terminal_only(
        controllers: Callable[..., Controller], terminal: Terminal) -> None:
    ctl = controllers(textwrap.dedent(f"""\
        [watchers.slow]
        cmd = {json.dumps(python_cmd(SLOW))}
        numprocesses = 2
        """))
    terminal.run([*RINGLEADER, "stop", "slow", "-e", ctl.endpoint])
    # each process takes 2 s to go: the line says what is being waited for
    terminal.wait(lambda: "stop slow: 2 stopping (" in terminal.screen(), "the progress")
    terminal.wait(lambda: (terminal.dir / "rc").exists(), "the end of stop")
    assert (terminal.dir / "rc").read_text().strip() == "0"
    screen = terminal.screen()
    assert "slow: stopped (0/2 running)" in screen
    assert "stopping" not in screen  # the progress line was cleared

    # off a terminal (and with --json): the answer only
    done = ctl("start", "slow")
    assert (done.returncode, done.stderr) == (0, "")
    data: dict[str, Any] = ctl.json("restart", "slow")
    assert data["name"] == "slow"
