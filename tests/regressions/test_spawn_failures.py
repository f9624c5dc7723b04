"""Found by the schemathesis run of `add`/`set` (issue 8, tests/functional/api/test_fuzz.py):
a spawn that fails at once (a command that does not exist, a working_dir that does not,
an rlimit the kernel refuses), under a respawn policy that allows many immediate retries
(flapping.attempts, backoff.free_retries), is retried by recursion: Process._follow ->
_respawn -> spawn -> _follow ... until RecursionError, and `add` answers 500 (at start-up
the same config would crash the controller). Each retry must wait its turn on the loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Controller, StartController, request, write_config

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""


@pytest.fixture
def ctl(tmp_path: Path, start_controller: StartController) -> Controller:
    controller = start_controller(write_config(tmp_path, "[ringleader]\n" + SLEEPER))
    controller.wait_active()
    return controller


@pytest.mark.parametrize("options", [
    pytest.param({"flapping": {"attempts": 500, "window": 10}}, id="flapping_attempts"),
    pytest.param({"backoff": {"free_retries": 500}}, id="backoff_free_retries"),
])
def test_a_spawn_that_fails_at_once_is_retried_without_recursion(
        options: dict[str, Any], ctl: Controller) -> None:
    body = json.dumps({"name": "broken", "cmd": "/nonexistent/program", "start": True,
                       "options": options}).encode()
    answer = ctl.raw(request("POST", "/v1/watchers", body), timeout=20)
    assert answer.status < 500, (answer.status, answer.body)
    assert ctl.status() is not None
    assert "RecursionError" not in ctl.log_text()

