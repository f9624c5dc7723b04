"""A short run of the soak benchmark (bench/soak.py): after hundreds of respawns and
dozens of add/incr/decr/set/rm cycles through the API, the controller holds exactly the
file descriptors it held before (a leak of one per cycle would show at once). RSS is the
benchmark's to report, not a test's to judge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.timeout(120)
def test_fd_count_returns_to_its_baseline_after_a_short_soak() -> None:
    done = subprocess.run([sys.executable, str(SOAK), "--respawns", "300", "--cycles", "40",
                           "--json"], capture_output=True, text=True, timeout=110)
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    assert result["exit_code"] == 0, result
    phases = [s["phase"] for s in result["samples"]]
    assert phases == ["start", "after 300 respawns", "after 40 API cycles"]
    assert [s["fds"] for s in result["samples"]] == [result["fds_baseline"]] * 3, result
