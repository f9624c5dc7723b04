"""The pidfile `run` keeps, the log tail `up` prints, and how the console finds the
endpoint."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from ringleader.cli.common import config_endpoint, resolve_endpoint
from ringleader.cli.run import PidFile, read_pidfile
from ringleader.cli.up import tail


def test_pidfile_written_then_removed(tmp_path: Path) -> None:
    path = tmp_path / "r.pid"
    with PidFile(str(path)):
        assert read_pidfile(str(path)) == os.getpid()
        assert not list(tmp_path.glob("*.tmp"))
    assert not path.exists()


def test_pidfile_of_another_process_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "r.pid"
    with PidFile(str(path)):
        path.write_text("12345\n")  # a newer controller took over the file
    assert read_pidfile(str(path)) == 12345


def test_no_pidfile_asked(tmp_path: Path) -> None:
    with PidFile(None):
        pass
    assert not list(tmp_path.iterdir())


def test_read_pidfile_garbage_or_missing(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("nope")
    assert read_pidfile(str(tmp_path / "bad")) is None
    assert read_pidfile(str(tmp_path / "missing")) is None


def test_tail_only_after_offset(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("old 1\nold 2\n")
    offset = log.stat().st_size
    with open(log, "a") as f:
        f.writelines(f"new {i}\n" for i in range(30))
    lines = tail(str(log), offset, lines=3)
    assert lines == ["new 27", "new 28", "new 29"]
    assert tail(str(log), offset, lines=100)[0] == "new 0"
    assert tail(str(tmp_path / "missing"), 0) == []


def test_config_endpoint_default_is_beside_the_config(tmp_path: Path) -> None:
    source = str(tmp_path / "ringleader.toml")
    assert config_endpoint(None, source) == f"unix:{tmp_path}/ringleader.sock"
    assert config_endpoint("unix:/run/x.sock", source) == "unix:/run/x.sock"


def _args(**kwargs: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{"endpoint": None, "config": None, **kwargs})


def test_resolve_endpoint_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RINGLEADER_ENDPOINT", raising=False)
    assert resolve_endpoint(_args()) == "unix:ringleader.sock"
    monkeypatch.setenv("RINGLEADER_ENDPOINT", "unix:/env.sock")
    assert resolve_endpoint(_args()) == "unix:/env.sock"
    config = tmp_path / "c.toml"
    config.write_text('[ringleader]\nendpoint = "unix:sub/c.sock"\n')
    assert resolve_endpoint(_args(config=str(config))) == f"unix:{tmp_path}/sub/c.sock"
    assert resolve_endpoint(_args(config=str(config), endpoint="/e.sock")) == "/e.sock"


# -- what `up` waits for --------------------------------------------------------------------

def _w(name: str, state: str = "active", running: int = 1, numprocesses: int = 1,
       desired: str = "running", detail: str = "") -> dict[str, object]:
    return {"name": name, "state": state, "running": running, "numprocesses": numprocesses,
            "desired": desired, "detail": detail, "processes": []}


def _status(*watchers: dict[str, object], starting: bool = False) -> dict[str, object]:
    return {"controller": {"pid": 1, "starting": starting}, "watchers": list(watchers)}


def test_ready_when_every_watcher_meant_to_run_runs_all_its_processes() -> None:
    from ringleader.cli.up import assess

    assert assess(_status(_w("a"), _w("b", numprocesses=0, running=0))) == ("ready", [])
    # One the controller keeps stopped (state file, autostart = false) is not waited for.
    assert assess(_status(_w("a"), _w("c", "stopped", 0, desired="stopped")))[0] == "ready"
    # A one-shot job that ended and is not respawned (respawn = false, or "unexpected"
    # with an expected exit code) is done, not awaited.
    job = _w("job", running=0, numprocesses=2)
    job["processes"] = [{"wid": 1, "state": "exited"}, {"wid": 2, "state": "running"}]
    job["running"] = 1
    assert assess(_status(_w("a"), job)) == ("ready", [])


def test_waiting_while_the_controller_starts_or_processes_are_not_all_running() -> None:
    from ringleader.cli.up import assess

    assert assess(_status(starting=True)) == ("waiting", [])  # no watcher listed yet
    # active but a process in backoff: not ready, not failed (yet)
    backing_off = _w("a", running=1, numprocesses=2)
    assert assess(_status(backing_off)) == ("waiting", [backing_off])
    later = _w("b", "stopped", 0)  # its turn in the start order has not come
    assert assess(_status(_w("a"), later, starting=True)) == ("waiting", [later])


def test_failed_flapping_or_refused_watchers_end_the_wait_at_once() -> None:
    from ringleader.cli.up import assess

    failed = _w("x", "failed", 0, detail="x.1: exit code 3 (last exits: 3, 3)")
    flapping = _w("y", "flapping", 0)
    refused = _w("z", "stopped", 0, detail="before_start hook failed")
    verdict = assess(_status(_w("a", "starting", 0), failed, flapping, refused,
                             starting=True))
    assert verdict == ("failed", [failed, flapping, refused])
