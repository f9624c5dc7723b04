"""Issue 8 item 3: nothing the event loop opens may block it.

A FIFO as a watcher's log file (from the config, or through `add` at runtime) blocked the
loop in open(): API dead, SIGTERM ignored, only SIGKILL worked. Output files are opened
non-blocking and checked: regular files and character devices (/dev/null) only, anything
else is a clear error naming the file, with that stream's output paused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ringleader.testing import wait_until_sync

from .conftest import DEADLINE, StartController, request, toml_str, write_config

PRINTER_CMD = "sh -c 'echo first line; exec sleep 600'"


def _fifo_config(tmp_path: Path, fifo: Path) -> Path:
    return write_config(tmp_path, f"""
[watchers.printer]
cmd = {toml_str(PRINTER_CMD)}
[watchers.printer.stdout_stream]
kind = "file"
filename = {toml_str(str(fifo))}
""")


def test_fifo_as_output_file_does_not_freeze_the_controller(
        tmp_path: Path, start_controller: StartController) -> None:
    """An error naming the FIFO is logged, the API answers, SIGTERM stops the controller
    (the test's own deadline kills it otherwise)."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo, 0o600)
    ctl = start_controller(_fifo_config(tmp_path, fifo))
    ctl.wait_log(str(fifo), timeout=8)
    assert ctl.status(timeout=5) is not None, "the API does not answer"
    assert ctl.terminate(timeout=DEADLINE) == 0, "SIGTERM did not stop the controller"


def test_fifo_as_output_file_added_at_runtime_does_not_freeze_the_controller(
        tmp_path: Path, start_controller: StartController) -> None:
    """`add` with a FIFO as stdout file: refused (422), or accepted with an error naming
    the FIFO and that stream paused; either way the controller keeps answering."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo, 0o600)
    config = write_config(tmp_path, '[watchers.sleeper]\ncmd = "sleep 600"\n')
    ctl = start_controller(config)
    ctl.wait_active()
    body = {"name": "printer", "cmd": PRINTER_CMD, "start": True,
            "options": {"stdout_stream": {"kind": "file", "filename": str(fifo)}}}
    answer = ctl.raw(request("POST", "/v1/watchers", json.dumps(body).encode()), timeout=10)
    assert answer.status < 500, answer.body
    if answer.status < 300:
        ctl.wait_log(str(fifo), timeout=8)
    for _ in range(3):
        assert ctl.status(timeout=5) is not None, "the API does not answer"
    assert ctl.terminate(timeout=DEADLINE) == 0


def test_dev_null_as_output_file_still_works(
        tmp_path: Path, start_controller: StartController) -> None:
    """Guard for the fix: character devices such as /dev/null stay valid output files."""
    config = write_config(tmp_path, f"""
[watchers.printer]
cmd = {toml_str(PRINTER_CMD)}
[watchers.printer.stdout_stream]
kind = "file"
filename = "/dev/null"
""")
    ctl = start_controller(config)
    ctl.wait_active()
    wait_until_sync(lambda: ctl.status() is not None, timeout=5, what="the API")
    assert "/dev/null" not in ctl.log_text()
    assert ctl.terminate() == 0
