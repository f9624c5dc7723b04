"""Issue 13: the controller's log under journald (priorities, no timestamp) and as JSON
lines for log shippers."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from ops_controller import Controller, cli

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
"""


def _lines(ctl: Controller) -> list[str]:
    ctl.stop()
    return [line for line in ctl.log.read_text().splitlines() if line]


def test_under_journald_lines_carry_priorities_and_no_timestamp(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    run_log = tmp_path / "run.log"  # the controller's stderr: the journal's stream
    run_log.write_text("")
    st = run_log.stat()
    ctl = controllers(SLEEPER, env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    lines = _lines(ctl)
    assert any(line.startswith("<6>ringleader.") and "controller started" in line
               for line in lines), lines
    assert all(re.match(r"<[0-7]>ringleader[.\w]*: ", line) for line in lines), lines
    assert not any(re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", line) for line in lines)


def test_journal_stream_of_another_file_keeps_the_text_format(
        controllers: Callable[..., Controller]) -> None:
    ctl = controllers(SLEEPER, env={**os.environ, "JOURNAL_STREAM": "1:2"})
    lines = _lines(ctl)
    assert all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \w+ +ringleader", line)
               for line in lines), lines


def test_log_format_json_is_one_object_per_line(
        controllers: Callable[..., Controller]) -> None:
    ctl = controllers(SLEEPER, args=("--log-format", "json"))
    records = [json.loads(line) for line in _lines(ctl)]
    assert records
    for record in records:
        assert {"ts", "level", "logger", "msg"} <= record.keys()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", record["ts"])
    assert any(r["msg"].startswith("controller started") and r["level"] == "info"
               for r in records)
    spawned = next(r for r in records if " spawned pid " in r["msg"])
    assert (spawned["watcher"], spawned["wid"]) == ("sleeper", 1)
    exited = next(r for r in records if " exited with " in r["msg"])
    assert (exited["watcher"], exited["wid"]) == ("sleeper", 1)


def test_log_format_from_the_config_and_a_bad_one(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    ctl = controllers('[ringleader]\nlog_format = "json"\n' + SLEEPER)
    assert all(json.loads(line)["logger"].startswith("ringleader") for line in _lines(ctl))
    bad = tmp_path / "bad.toml"
    bad.write_text('[ringleader]\nlog_format = "xml"\n' + SLEEPER)

    check = cli("check", str(bad))
    assert check.returncode == 2
    assert "log_format" in check.stderr and "json" in check.stderr
    assert "Traceback" not in check.stderr
