"""What the package says about itself: the license as an SPDX expression with its file
(PEP 639), classifiers a user can trust, the files a contributor needs, and the public
API visible to dir() and help() despite the lazy imports."""

from __future__ import annotations

import pydoc
import tomllib
from pathlib import Path

import ringleader

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    # PEP 639: a License :: classifier beside an SPDX expression is an error.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_classifiers_are_sorted_and_unique() -> None:
    classifiers = PROJECT["classifiers"]
    assert classifiers == sorted(set(classifiers))
    assert "Typing :: Typed" in classifiers and (ROOT / "src/ringleader/py.typed").exists()


def test_changelog_and_contributing_exist() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog") and "## [Unreleased]" in changelog
    assert f"## [{ringleader.__version__}.dev1]" in changelog  # wave 1
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for needed in ("pip install -q -e '.[test]'", "pytest", "ruff check", "mypy", "lint-imports"):
        assert needed in contributing, needed


def test_help_lists_the_public_api() -> None:
    assert set(ringleader.__all__) <= set(dir(ringleader))
    text = pydoc.render_doc(ringleader, renderer=pydoc.plaintext)
    for name in ("Arbiter", "BackgroundArbiter", "get_arbiter", "WatcherConfig"):
        assert name in text, name
