"""The cap on module length (.ci/check-module-size, run by .ci/run): the package keeps it,
and a module one line over is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".ci" / "check-module-size"


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True,
                          text=True, timeout=30, check=False)


def test_every_module_of_the_package_keeps_the_cap() -> None:
    result = _check()
    assert result.returncode == 0, result.stderr


def test_a_module_over_the_cap_is_named(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "at_cap.py").write_text("x = 1\n" * 400)
    (tmp_path / "sub" / "over.py").write_text("x = 1\n" * 401)
    result = _check(str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "sub/over.py has 401 lines, over the cap of 400" in lines[0]


def test_a_missing_folder_is_one_error(tmp_path: Path) -> None:
    result = _check(str(tmp_path / "missing"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing'} is not a folder"
