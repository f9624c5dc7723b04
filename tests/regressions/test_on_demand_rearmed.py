"""An `on_demand` watcher whose start was refused (its before_start hook said no) stayed
disarmed: the next connection to its socket no longer started it, until an operator
started it by hand. It must be armed again, so that a later connection tries again; and
retries follow the watcher's respawn policy (here flapping), never a hot loop on the
connection still waiting in the backlog.
"""

from __future__ import annotations

import socket
from pathlib import Path

from ringleader.testing import free_port, wait_until_sync

from .conftest import DEADLINE, Controller, StartController, write_config


def _config(directory: Path, port: int, policy: str) -> Path:
    calls, allow = directory / "calls", directory / "allow"
    return write_config(directory, f"""
[watchers.lazy]
cmd = "sleep 600"
on_demand = true
use_sockets = true
{policy}
[watchers.lazy.hooks.before_start]
kind = "shell"
target = "echo x >> {calls}; test -e {allow}"
[watchers.lazy.stdout_stream]
kind = "null"
[sockets.lazy]
host = "127.0.0.1"
port = {port}
""")


def _calls(directory: Path) -> int:
    try:
        return len((directory / "calls").read_text().split())
    except FileNotFoundError:
        return 0


def _knock(port: int) -> socket.socket:
    """A connection left waiting in the socket's backlog (closed by the caller)."""
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)


def _lazy(ctl: Controller) -> dict[str, object]:
    return ctl.watchers()["lazy"]


def test_a_refused_on_demand_start_is_tried_again(
        tmp_path: Path, start_controller: StartController) -> None:
    port = free_port()
    ctl = start_controller(_config(tmp_path, port, ""))
    ctl.wait_answering()
    assert _lazy(ctl)["state"] == "stopped"
    with _knock(port):
        wait_until_sync(lambda: _calls(tmp_path) >= 1, timeout=DEADLINE, interval=0.05,
                        what="the refused start")
        assert _lazy(ctl)["state"] == "stopped"
        (tmp_path / "allow").touch()  # the hook says yes from now on
        ctl.wait_active("lazy")  # the connection waiting, or the next try, starts it


def test_the_retries_follow_the_flapping_policy(
        tmp_path: Path, start_controller: StartController) -> None:
    port = free_port()
    policy = "[watchers.lazy.flapping]\nattempts = 2\nwindow = 30\nretry_in = 600\n"
    ctl = start_controller(_config(tmp_path, port, policy))
    ctl.wait_answering()
    with _knock(port):
        ctl.wait_log("retry in 600.0s")  # two refusals: parked, not a hot loop
        assert _calls(tmp_path) == 2
        assert _lazy(ctl)["state"] == "stopped"
        assert "before_start hook failed" in str(_lazy(ctl)["detail"])
    (tmp_path / "allow").touch()
    done = ctl.cli("start", "lazy")  # an explicit start needs no wait
    assert done.returncode == 0, done.stderr
    ctl.wait_active("lazy")
    assert ctl.cli("stop", "lazy").returncode == 0
    with _knock(port):  # armed again once stopped, its history forgotten
        ctl.wait_active("lazy")
