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
