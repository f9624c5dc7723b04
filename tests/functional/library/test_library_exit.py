"""An application that ends without stop() leaves no worker behind: at exit (atexit), when
it drops the arbiter (its finalizer), and when it is killed (the guardian). Each case is a
real Python program that uses the library, run in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import pid_exists, python_cmd, wait_until_sync

# A worker that reports itself ready (sd_notify) only once its SIGTERM handler is in
# place, and leaves a file named after its pid when stopped gracefully.
WORKER = python_cmd(
    "import os, signal, socket, sys, time\n"
    "def term(sig, frame):  # os._exit: a SystemExit could land in a finalizer\n"
    "    open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\n"
    "    os._exit(0)\n"
    "signal.signal(signal.SIGTERM, term)\n"
    "addr = os.environ['NOTIFY_SOCKET']\n"
    "addr = '\\0' + addr[1:] if addr.startswith('@') else addr\n"
    "with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:\n"
    "    s.sendto(b'READY=1', addr)\n"
    "while True:\n"
    "    time.sleep(600)\n"
)

APPLICATION = """
import gc, json, sys
from ringleader import get_arbiter

how, markers, worker = sys.argv[1], sys.argv[2], sys.argv[3]
arbiter = get_arbiter(f"{worker} {markers}", 2, readiness="notify", ready_timeout=20,
                      stdout_stream={"kind": "null"}, timeout=30,
                      use_guardian=how in ("raises", "killed"))
arbiter.start()
print(json.dumps(arbiter.pids()), flush=True)
if how == "raises":
    raise RuntimeError("the application failed")
if how == "exits":
    sys.exit(3)
if how == "drops":
    del arbiter
    gc.collect()
    print("dropped", flush=True)
if how in ("drops", "killed"):
    sys.stdin.read()  # until the test says
"""


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    path = tmp_path / "stopped"
    path.mkdir()
    return path


@pytest.fixture
def workers() -> Iterator[list[int]]:
    """The application's workers: killed after the test if one is still there."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if pid_exists(pid):
            os.kill(pid, signal.SIGKILL)


def application(how: str, markers: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", APPLICATION, how, str(markers), WORKER],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def read_pids(app: subprocess.Popen[str], workers: list[int]) -> list[int]:
    assert app.stdout is not None
    line = app.stdout.readline()
    assert line, f"the application failed: {app.communicate(timeout=30)[1]}"
    workers.extend(json.loads(line))  # ready (sd_notify) when the application printed them
    assert len(workers) == 2
    return workers


@pytest.mark.parametrize(("how", "code"), [("returns", 0), ("raises", 1), ("exits", 3)])
def test_workers_are_stopped_gracefully_when_the_application_exits_without_stop(
        how: str, code: int, markers: Path, workers: list[int]) -> None:
    with application(how, markers) as app:
        try:
            pids = read_pids(app, workers)
            _, stderr = app.communicate(timeout=30)
        finally:
            app.kill()
    assert app.returncode == code, stderr
    # Stopped before the program ended, by their stop signal (not SIGKILL).
    assert not any(pid_exists(p) for p in pids)
    assert sorted(os.listdir(markers)) == sorted(str(p) for p in pids)
    if how == "raises":
        assert stderr.strip().endswith("RuntimeError: the application failed")


def test_workers_are_stopped_when_the_application_drops_the_arbiter(
        markers: Path, workers: list[int]) -> None:
    with application("drops", markers) as app:
        try:
            pids = read_pids(app, workers)
            assert app.stdout is not None
            assert app.stdout.readline() == "dropped\n"
            # The finalizer stopped them while the application goes on.
            assert app.poll() is None
            assert not any(pid_exists(p) for p in pids)
            assert sorted(os.listdir(markers)) == sorted(str(p) for p in pids)
            _, stderr = app.communicate("", timeout=30)
            assert app.returncode == 0, stderr
        finally:
            app.kill()


def test_the_guardian_stops_the_workers_of_a_killed_application(
        markers: Path, workers: list[int]) -> None:
    with application("killed", markers) as app:
        try:
            pids = read_pids(app, workers)
        finally:
            app.kill()
    wait_until_sync(lambda: not any(pid_exists(p) for p in pids), timeout=20,
                    what="the guardian to stop the workers")
