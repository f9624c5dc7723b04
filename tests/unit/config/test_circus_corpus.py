"""The yardstick: circus's own config files load unchanged.

Fetch them with ``.ci/fetch-circus-corpus DIR`` and run with RINGLEADER_CIRCUS_CORPUS=DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringleader.config.load import load_config
from ringleader.errors import ConfigError

CORPUS = os.environ.get("RINGLEADER_CIRCUS_CORPUS")

# Files that circus's own test suite only loads with mocks or as partial fragments.
EXPECTED_FAILURES = {
    "hooks.ini",  # a watcher without cmd: circus's test only checks hook parsing
    "find_hook_in_pythonpath.ini",  # same: no cmd, only a hook
    "issue137.ini",  # uid/gid "me": circus's test mocks pwd/grp; unknown users are errors
    "issue442.ini",  # uid "tarek" (via [env]): same, the user exists only in circus's mocks
}

# Files that circus's own tests load with a variable set in the environment first.
ENVIRONMENT = {
    "issue567.ini": {"GRAVITY": "down"},  # cmd = $(circus.env.GRAVITY)
}


def _files() -> list[Path]:
    if not CORPUS:
        return []
    return sorted(Path(CORPUS).rglob("*.ini"))


@pytest.mark.skipif(not CORPUS, reason="RINGLEADER_CIRCUS_CORPUS is not set "
                    "(fetch it with .ci/fetch-circus-corpus DIR)")
def test_corpus_is_not_empty() -> None:
    assert _files(), f"no *.ini under {CORPUS}"


@pytest.mark.skipif(not CORPUS, reason="RINGLEADER_CIRCUS_CORPUS is not set "
                    "(fetch it with .ci/fetch-circus-corpus DIR)")
@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(CORPUS or "/")))
def test_circus_config_loads(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.get(path.name, {}).items():
        monkeypatch.setenv(name, value)
    if path.name in EXPECTED_FAILURES:
        with pytest.raises(ConfigError):
            load_config(path)
        return
    try:
        load_config(path)
    except ConfigError as exc:
        pytest.fail("\n".join(exc.problems))
