"""What supervisorctl and circusctl users type, against a real controller: group and glob
selectors for start/stop/restart/signal/status, process names in status, circusctl's verbs
(listsockets, listen, dstats, globaloptions, numwatchers, kill, listpids) and `list`."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringleader.testing import free_port, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


def config(port: int) -> str:
    return textwrap.dedent(f"""
        [groups.web]
        watchers = ["front", "api"]
        priority = 10

        [watchers.front]
        cmd = "sleep 600"
        numprocesses = 2
        wid_start = 0
        process_name = "front_$(ringleader.wid:02d)"

        [watchers.api]
        cmd = "sleep 601"

        [watchers.worker-a]
        cmd = "sleep 602"

        [watchers.worker-b]
        cmd = "sleep 603"

        [sockets.http]
        host = "127.0.0.1"
        port = {port}
    """)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "ringleader.toml").write_text(config(free_port()))
    endpoint = f"unix:{tmp_path / 'ringleader.sock'}"
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([*RINGLEADER, "run", "ringleader.toml"], cwd=tmp_path,
                                stdout=log, stderr=log)
    try:
        wait_until_sync(lambda: (s := status(endpoint)) is not None and all(
            w["running"] == w["numprocesses"] for w in s["watchers"]), timeout=30,
            what="the controller")
        yield endpoint
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RINGLEADER, "-e", endpoint, *args], capture_output=True,
                          text=True, timeout=60, check=False)


def status(endpoint: str) -> dict[str, Any] | None:
    out = cli(endpoint, "--json", "status")
    data = json.JSONDecoder().raw_decode(out.stdout)[0] if out.stdout.startswith("{") else {}
    return data if "watchers" in data else None  # else unreachable (yet)


def states(endpoint: str) -> dict[str, list[str]]:
    data = status(endpoint) or {"watchers": []}
    return {w["name"]: [p["state"] for p in w["processes"]] for w in data["watchers"]}


def test_group_and_glob_selectors(controller: str) -> None:
    done = cli(controller, "stop", "web:*")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["web:front: stopped", "web:api: stopped"]
    assert states(controller)["front"] == ["stopped", "stopped"]
    assert states(controller)["worker-a"] == ["running"]

    assert cli(controller, "start", "web:*").returncode == 0
    assert states(controller)["api"] == ["running"]

    done = cli(controller, "stop", "worker*")  # circusctl's globs
    assert done.stdout.splitlines() == ["worker-a: stopped", "worker-b: stopped"]
    assert cli(controller, "start", "work*").returncode == 0
    assert states(controller)["worker-b"] == ["running"]


def test_one_process_by_its_supervisord_name(controller: str) -> None:
    before = {p["name"]: p["pid"] for w in status(controller)["watchers"]  # type: ignore[index]
              for p in w["processes"]}
    assert {"front_00", "front_01"} <= before.keys()

    done = cli(controller, "stop", "web:front_01")
    assert done.stdout.strip() == "web:front_01: stopped"  # as supervisorctl names it
    assert states(controller)["front"] == ["running", "stopped"]

    shown = cli(controller, "status", "web:front_01")
    assert "front_01" in shown.stdout and "front_00" not in shown.stdout

    assert cli(controller, "start", "web:front_01").returncode == 0
    assert states(controller)["front"] == ["running", "running"]

    assert cli(controller, "restart", "front_0[0]").returncode == 0  # a glob of names
    after = {p["name"]: p["pid"] for w in status(controller)["watchers"]  # type: ignore[index]
             for p in w["processes"]}
    assert after["front_00"] != before["front_00"]
    assert after["api.1"] == before["api.1"]  # native names: NAME.WID

    signalled = cli(controller, "signal", "web:*", "CONT")
    assert signalled.returncode == 0 and "3" in signalled.stdout
    # supervisorctl's order: the signal first
    signalled = cli(controller, "signal", "CONT", "web:front_00")
    assert signalled.returncode == 0 and "1" in signalled.stdout

    assert cli(controller, "stop", "nosuch:*").returncode == 1
    assert "no group 'nosuch'" in cli(controller, "stop", "nosuch:*").stderr


def test_status_names_processes_as_supervisord(controller: str) -> None:
    text = cli(controller, "status", "front").stdout
    assert "front_00" in text and "front_01" in text


def test_circusctl_verbs(controller: str) -> None:
    assert cli(controller, "list").stdout.strip() == "front,api,worker-a,worker-b"
    assert cli(controller, "list", "front").stdout.strip() == "1,2"
    assert cli(controller, "numwatchers").stdout.strip() == "4"
    pids = cli(controller, "listpids", "front").stdout.strip().split(",")
    assert len(pids) == 2 and all(p.isdigit() for p in pids)
    assert "http" in cli(controller, "listsockets").stdout
    dstats = json.loads(cli(controller, "--json", "dstats").stdout)
    assert dstats["children"] >= 5 and dstats["rss"] > 0
    options = json.loads(cli(controller, "--json", "globaloptions").stdout)
    assert options["loglevel"] == "info" and "tokens" in options
    assert cli(controller, "globaloptions", "loglevel").returncode == 0

    old = int(pids[0])
    killed = cli(controller, "kill", "front", str(old))  # stopped, then respawned
    assert killed.returncode == 0, killed.stderr
    new = cli(controller, "listpids", "front").stdout.strip().split(",")
    assert str(old) not in new and len(new) == 2


def test_listen_follows_events(controller: str) -> None:
    listen = subprocess.Popen([*RINGLEADER, "-e", controller, "--json", "listen",
                               "watcher."], stdout=subprocess.PIPE, text=True)
    assert listen.stdout is not None
    try:
        # it may subscribe after a first change: change until a line comes (bounded)
        def changed_and_heard() -> bool:
            cli(controller, "restart", "api")
            return bool(select.select([listen.stdout], [], [], 1.0)[0])

        wait_until_sync(changed_and_heard, timeout=30, what="an event from listen")
        assert json.loads(listen.stdout.readline())["topic"].startswith("watcher.")
    finally:
        listen.terminate()
        listen.wait(10)
        listen.stdout.close()
