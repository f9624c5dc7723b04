"""The library's documentation is true: the README's and docs/library.md's Python blocks
marked ``<!-- ringleader: run -->`` run with real processes (the others compile), help()
shows the public API, and every public method says what it does."""

from __future__ import annotations

import inspect
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ringleader
from ringleader import Arbiter, BackgroundArbiter, Feed

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", ROOT / "docs" / "library.md"]
MARK = "<!-- ringleader: run -->"
BLOCK = re.compile(r"(?P<mark><!-- ringleader: run -->\n)?```python\n(?P<code>.*?)```", re.S)

# Runs a block as a script, then its test_* functions (the testing pattern), async or not.
HARNESS = """
import asyncio, inspect, sys
namespace = {"__name__": "__docs__"}
exec(compile(sys.argv[1], sys.argv[2], "exec"), namespace)
for name, func in list(namespace.items()):
    if name.startswith("test_") and inspect.isfunction(func):
        result = func()
        if inspect.iscoroutine(result):
            asyncio.run(result)
        print("passed:", name)
"""
WORKER = "import time\ntime.sleep(600)\n"


def blocks(marked: bool) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in BLOCK.finditer(text):
            if marked and not m["mark"]:
                continue
            line = text.count("\n", 0, m.start("code")) + 1
            found.append((f"{doc.name}:{line}", m["code"]))
    return found


def test_the_docs_mark_their_library_snippets() -> None:
    where = [w for w, _ in blocks(marked=True)]
    assert any(w.startswith("README.md") for w in where)
    assert len([w for w in where if w.startswith("library.md")]) >= 3


@pytest.mark.parametrize(("where", "code"), blocks(marked=False),
                         ids=[w for w, _ in blocks(marked=False)])
def test_every_python_block_compiles(where: str, code: str) -> None:
    compile(code, where, "exec")


@pytest.mark.parametrize(("where", "code"), blocks(marked=True),
                         ids=[w for w, _ in blocks(marked=True)])
def test_marked_blocks_run_with_real_workers(where: str, code: str, tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', os.defpath)}"}
    try:
        done = subprocess.run([sys.executable, "-c", HARNESS, code, where], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=45)
        assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"
        tests = re.findall(r"^(?:async )?def (test_\w+)", code, re.M)
        assert re.findall(r"^passed: (\w+)$", done.stdout, re.M) == tests
    finally:
        left = processes_in(tmp_path)
        for pid in left:
            os.kill(pid, 9)
    assert left == [], f"{where} left workers behind"


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` (the block's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(directory):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_help_shows_the_public_api() -> None:
    for name in ("get_arbiter", "BackgroundArbiter", "Arbiter", "WatcherConfig",
                 "ControllerConfig", "Feed"):
        assert name in dir(ringleader)
    text = pydoc.render_doc(ringleader, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    for shown in ("get_arbiter(", "class BackgroundArbiter", "class Arbiter", "class Feed",
                  "status(self", "follow_logs(self"):
        assert shown in text


@pytest.mark.parametrize("cls", [Arbiter, BackgroundArbiter, Feed])
def test_every_public_method_has_a_docstring(cls: type) -> None:
    undocumented = [name for name, member in inspect.getmembers(cls)
                    if not name.startswith("_")
                    and inspect.getdoc(member) in (None, "", inspect.getdoc(object))]
    assert undocumented == []
