"""The control socket's file appeared at bind(), before listen(): a client that waited for
the file (`ringleader up`, a systemd path unit, a script polling for it) could connect in
between and get ECONNREFUSED, and a second controller starting then took the socket for a
stale one and removed it. The name must appear only once the socket listens, with its
final mode (0600: no instant where another local user may connect).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import (
    AS_NOBODY,
    DEADLINE,
    RINGLEADER,
    Cleanup,
    Controller,
    StartController,
    needs_root,
    write_config,
)

# The controller runs under strace, which holds each listen() for this long (microseconds):
# the instant between bind() and listen() becomes wide enough to be seen every time.
LISTEN_DELAY_US = 300_000
needs_strace = pytest.mark.skipif(  # under CI=true: fails without it, never skips
    shutil.which("strace") is None and os.environ.get("CI") != "true", reason="needs strace")

RACER = """
import errno, json, os, socket, stat, sys, time
path, end = sys.argv[1], time.monotonic() + float(sys.argv[2])
seen, mode = [], None
s = socket.socket(socket.AF_UNIX)
while time.monotonic() < end:
    try:
        s.connect(path)
    except FileNotFoundError:
        continue
    except OSError as exc:
        seen.append(errno.errorcode.get(exc.errno, str(exc.errno)))
        if exc.errno != errno.ECONNREFUSED:
            break
        s.close()
        s = socket.socket(socket.AF_UNIX)
    else:
        seen.append("connected")
        break
    finally:
        if mode is None and seen:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
print(json.dumps({"mode": mode, "seen": seen}))
"""


def _start_slowed(config: Path, cleanup: Cleanup) -> Controller:
    """`ringleader run CONFIG` with its listen() calls delayed by strace."""
    log = config.parent / "controller.log"
    with open(log, "ab") as out:
        proc = cleanup.popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=listen",
                              "-e", f"inject=listen:delay_enter={LISTEN_DELAY_US}",
                              *RINGLEADER, "run", str(config)],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Controller(proc, f"unix:{config.parent / 'ringleader.sock'}", log)


def _race(directory: Path, cleanup: Cleanup, prefix: list[str]) -> dict[str, object]:
    """Start the controller with a racer (run with `prefix`) waiting for its socket."""
    config = write_config(directory, '[watchers.idle]\ncmd = "sleep 600"\n')
    sock = directory / "ringleader.sock"
    racer = cleanup.popen([*prefix, sys.executable, "-c", RACER, str(sock), str(DEADLINE)],
                          stdout=subprocess.PIPE, cwd="/")
    ctl = _start_slowed(config, cleanup)
    out, _err = racer.communicate(timeout=DEADLINE + 5)
    ctl.wait_active()
    # SIGTERM to the controller itself (strace would detach and leave it running)
    os.kill(ctl.wait_answering()["controller"]["pid"], signal.SIGTERM)
    assert ctl.proc.wait(DEADLINE) == 0, ctl.log_text()
    assert not sock.exists(), "the socket file is removed at exit"
    result: dict[str, object] = json.loads(out)
    return result


@needs_strace
def test_a_client_waiting_for_the_socket_file_is_never_refused(
        public_dir: Path, cleanup: Cleanup) -> None:
    assert _race(public_dir, cleanup, []) == {"mode": 0o600, "seen": ["connected"]}


@needs_root
@needs_strace
def test_another_user_never_finds_the_socket_open(public_dir: Path, cleanup: Cleanup) -> None:
    assert _race(public_dir, cleanup, AS_NOBODY) == {"mode": 0o600, "seen": ["EACCES"]}


def _dead_socket(path: Path) -> None:
    """A socket file nobody listens on, as a controller killed at the wrong instant
    leaves."""
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def test_files_a_killed_controller_left_are_cleared(
        public_dir: Path, start_controller: StartController) -> None:
    """A stale socket, and the temporary name of a controller that died while it opened
    its socket, do not stop the next start; a second controller then is refused and the
    running one stays the one that answers."""
    config = write_config(public_dir, '[watchers.idle]\ncmd = "sleep 600"\n')
    _dead_socket(public_dir / "ringleader.sock")
    reaped = subprocess.Popen(["true"])
    reaped.wait()  # its pid is free now: the temporary name's owner is gone
    stale_temp = public_dir / f".ringleader.sock.{reaped.pid}.0123abcd.tmp"
    _dead_socket(stale_temp)
    ctl = start_controller(config)
    ctl.wait_active()
    assert stat.S_ISSOCK(os.lstat(ctl.socket_path).st_mode)
    assert [p.name for p in public_dir.iterdir() if p.name.startswith(".")] == []

    second: Controller = start_controller(config)
    assert second.proc.wait(DEADLINE) != 0
    assert "another controller is running" in second.log_text()
    assert [p.name for p in public_dir.iterdir() if p.name.startswith(".")] == []
    assert ctl.status() is not None, "the first controller still answers"
    assert ctl.terminate() == 0
