"""The wheel carries the dashboard: every file of ringleader/dashboard/static (pages,
stylesheet, vendored uPlot and its VENDOR record) and PROTOCOL.md, as package data. Built
offline from a copy of the sources (no build isolation: the test extras bring setuptools)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "src" / "ringleader" / "dashboard"


def test_the_wheel_carries_every_file_of_the_dashboard(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "share", source / "share")  # the man page (data-files)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("ringleader-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = set(archive.namelist())
    wanted = {f"ringleader/dashboard/{path.relative_to(DASHBOARD)}"
              for path in DASHBOARD.rglob("*")
              if path.is_file() and "__pycache__" not in path.parts}
    assert "ringleader/dashboard/static/vendor/VENDOR" in wanted
    assert "ringleader/dashboard/static/index.html" in wanted
    assert wanted <= carried, sorted(wanted - carried)
