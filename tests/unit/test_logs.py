"""The controller's log formats and the journal's detection."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from ringleader.logs import JournalFormatter, JsonFormatter, make_formatter, under_journald


def _record(level: int = logging.WARNING, msg: str = "web.1 exited with code %d",
            args: tuple[object, ...] = (3,), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("ringleader.process", level, __file__, 1, msg, args, None)
    record.created, record.msecs = 1_800_000_000.25, 250.0
    record.__dict__.update(extra)
    return record


def test_journal_lines_carry_the_priority_and_no_time() -> None:
    fmt = JournalFormatter("%(message)s")
    assert fmt.format(_record()) == "<4>ringleader.process: web.1 exited with code 3"
    assert fmt.format(_record(logging.DEBUG)).startswith("<7>")
    assert fmt.format(_record(logging.ERROR)).startswith("<3>")
    assert fmt.format(_record(logging.CRITICAL)).startswith("<2>")
    assert fmt.format(_record(logging.INFO, "a\nb", ())) == "<6>ringleader.process: a\n  b"


def test_json_lines() -> None:
    line = JsonFormatter().format(_record(watcher="web", wid=1))
    assert "\n" not in line
    assert json.loads(line) == {"ts": "2027-01-15T08:00:00.250Z", "level": "warning",
                                "logger": "ringleader.process",
                                "msg": "web.1 exited with code 3", "watcher": "web",
                                "wid": 1}
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(logging.ERROR, "failed", ())
        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exc"]


def test_under_journald_needs_stderr_to_be_the_journal_stream(tmp_path: Path) -> None:
    path = tmp_path / "stream"
    path.write_text("")
    with open(path) as f:
        st = os.fstat(f.fileno())
        assert under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f.fileno())
        assert not under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"},
                                  f.fileno())
        assert not under_journald({"JOURNAL_STREAM": "garbage"}, f.fileno())
        assert not under_journald({}, f.fileno())
    assert isinstance(make_formatter("json", None), JsonFormatter)
    assert isinstance(make_formatter("journal", None), JournalFormatter)
    assert type(make_formatter("auto", None)) is logging.Formatter
