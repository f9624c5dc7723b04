"""The controller binds its control socket before it spawns anything, and opens the API
(loaded after the first spawns) as soon as a client needs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _config(tmp_path: Path, n: int, extra: str = "") -> Path:
    """Workers that each append a line to `marker` once they run."""
    marker = tmp_path / "marker"
    config = tmp_path / "ringleader.toml"
    config.write_text(
        f"""[watchers.w]
cmd = "/bin/sh -c 'echo started >> {marker}; exec sleep 600'"
numprocesses = {n}
{extra}
""")
    return config


def _started(tmp_path: Path) -> int:
    try:
        return len((tmp_path / "marker").read_text().splitlines())
    except FileNotFoundError:
        return 0


def _run(procs: list[subprocess.Popen[bytes]], config: Path,
         log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([*RINGLEADER, "run", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=config.parent)
    procs.append(proc)
    return proc


def _status(config: Path) -> dict[str, object]:
    out = subprocess.run([*RINGLEADER, "status", "-c", str(config), "--json"],
                         capture_output=True, text=True, timeout=30, check=True)
    answer: dict[str, object] = json.loads(out.stdout)
    return answer


def test_a_second_controller_on_the_same_socket_spawns_nothing(
        procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    config = _config(tmp_path, 2)
    first = _run(procs, config, tmp_path / "first.log")
    wait_until_sync(lambda: _started(tmp_path) == 2, what="the first controller's workers")
    wait_until_sync(lambda: (tmp_path / "ringleader.sock").exists(), what="its socket")
    second = _run(procs, config, tmp_path / "second.log")
    assert second.wait(30) == 1
    log = (tmp_path / "second.log").read_text().strip().splitlines()
    errors = [line for line in log if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith(
        f"cannot open the control API: another controller is running on "
        f"{tmp_path}/ringleader.sock"), log
    assert _started(tmp_path) == 2  # the second spawned no worker
    assert first.poll() is None
    assert _status(config)["watchers"]  # the first still answers on its socket


def test_a_failed_start_leaves_no_socket_and_no_worker(
        procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        config = _config(tmp_path, 2, "use_sockets = true\n[sockets.web]\n"
                         f'host = "127.0.0.1"\nport = {port}\n')
        proc = _run(procs, config, tmp_path / "log")
        assert proc.wait(30) == 1
    finally:
        taken.close()
    log = (tmp_path / "log").read_text()
    assert "cannot start" in log and str(port) in log and "Traceback" not in log
    assert _started(tmp_path) == 0
    assert not (tmp_path / "ringleader.sock").exists()


def test_the_api_answers_while_the_workers_still_start(
        procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    # The start lasts two warm-ups (the second worker 8 s after the first, ready 8 s
    # later): the API opens for the first client all the same, and shows it starting.
    config = _config(tmp_path, 2, "warmup_delay = 8")
    proc = _run(procs, config, tmp_path / "log")
    wait_until_sync(lambda: _started(tmp_path) == 1, what="the first worker")
    answer = _status(config)
    watchers = answer["watchers"]
    assert isinstance(watchers, list) and watchers[0]["state"] == "starting"
    assert _started(tmp_path) == 1
    proc.send_signal(signal.SIGTERM)  # handled once the start is over
    assert proc.wait(45) == 0
    assert not (tmp_path / "ringleader.sock").exists()
    assert os.listdir(tmp_path)  # the log and the marker


def test_a_controller_without_api_tokens_never_maps_libcrypto(
        procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    # hashlib maps libcrypto (about 5 MB of every controller): only token checks need it.
    config = _config(tmp_path, 2)
    proc = _run(procs, config, tmp_path / "log")
    wait_until_sync(lambda: _started(tmp_path) == 2, what="the workers")
    assert _status(config)["watchers"]  # the API is loaded and has served a client
    maps = Path(f"/proc/{proc.pid}/maps").read_text()
    assert "libcrypto" not in maps
