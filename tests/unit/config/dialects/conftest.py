from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.dialects.toml_writer import dump_toml
from ringleader.config.load import load_config
from ringleader.config.model import Config

FIXTURES = Path(__file__).parents[3] / "fixtures"

@pytest.fixture
def native_load(tmp_path: Path) -> Callable[[dict[str, Any]], Config]:
    """The document written with dump_toml and loaded by the native loader from a file (the
    one validation path)."""

    def load(document: dict[str, Any]) -> Config:
        path = tmp_path / "translated.toml"
        path.write_text(dump_toml(document))
        return load_config(path)

    return load


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Callable[[str], Path]:
    """A fixture directory copied to a temp dir (its files then belong to us, mode 0644)."""

    def copy_tree(name: str) -> Path:
        dest = tmp_path / Path(name).name
        shutil.copytree(FIXTURES / name, dest)
        for path in [dest, *dest.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return dest

    return copy_tree
