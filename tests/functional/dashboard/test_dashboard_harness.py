"""The browser tests cannot pass unseen in CI: without Chromium they fail under CI=true and
skip elsewhere (a nested pytest run of one browser test, Chromium's path pointed at
nothing; it stops at the module's browser fixture, before any controller starts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_without_chromium(ci: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["RINGLEADER_TEST_CHROMIUM"] = str(tmp_path / "no-chromium")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p",
                           "no:cacheprovider", "-rs", str(HERE / "test_dashboard_weight.py")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def test_without_chromium_the_browser_tests_fail_in_ci(tmp_path: Path) -> None:
    run = run_without_chromium("true", tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the browser tests must run in CI: " in run.stdout
    assert "no-chromium is missing: apt-get install chromium" in run.stdout
    assert "1 error" in run.stdout and "skipped" not in run.stdout


def test_without_chromium_they_skip_elsewhere(tmp_path: Path) -> None:
    run = run_without_chromium(None, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
