"""fish completion and the man page, both generated from the parser: they run in the real
fish and render with the real groff/man where those are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_fakehttp import FakeServer, Request, response

from ringleader import __version__
from ringleader.cli.commands import TABLE, build_parser
from ringleader.cli.completion import script
from ringleader.cli.manpage import manual, render, roff_escape

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "share" / "man" / "man1" / "ringleader.1"
FISH = shutil.which("fish")


def _fish(tmp_path: Path, commands: str, env: dict[str, str] | None = None) -> list[str]:
    assert FISH is not None
    path = tmp_path / "ringleader.fish"
    path.write_text(script("fish", build_parser()))
    done = subprocess.run([FISH, "--no-config", "-c", f"source {path}; {commands}"],
                          capture_output=True, text=True, timeout=20, env=env, check=True)
    assert done.stderr == ""
    return done.stdout.splitlines()


def test_fish_script_names_every_command() -> None:
    text = script("fish", build_parser())
    for command in TABLE:
        assert f"-a {command.name} -d" in text
    assert "complete -c ringleader -n '__fish_seen_subcommand_from logs' -l stream -x -a " \
           "'stdout stderr'" in text


@pytest.mark.skipif(FISH is None, reason="needs fish")
def test_fish_completes_commands_options_and_watchers(
        tmp_path: Path, serve: Callable[..., FakeServer]) -> None:
    subprocess.run([FISH, "--no-execute", "-c", script("fish", build_parser())],
                   check=True, timeout=20)
    words = [x.split("\t")[0] for x in _fish(tmp_path, "complete -C 'ringleader sta'")]
    assert sorted(words) == ["start", "startup", "stats", "status"]
    words = [x.split("\t")[0] for x in _fish(tmp_path, "complete -C 'ringleader logs --st'")]
    assert words == ["--stream"]
    words = [x.split("\t")[0] for x in _fish(tmp_path,
                                              "complete -C 'ringleader logs --stream '")]
    assert sorted(words) == ["stderr", "stdout"]

    # watcher names come from the running controller (`ringleader list`)
    def controller(req: Request) -> bytes:
        return response(200, {"watchers": ["web", "worker"]})

    server = serve(controller)
    env = {**os.environ, "RINGLEADER_ENDPOINT": server.endpoint,
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    words = _fish(tmp_path, "complete -C 'ringleader stop '", env)
    assert sorted(words) == ["web", "worker"]


def test_the_installed_page_is_the_rendered_one() -> None:
    assert PAGE.read_text() == manual(), "run: ringleader man > share/man/man1/ringleader.1"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = pyproject["tool"]["setuptools"]["data-files"]
    assert data_files == {"share/man/man1": ["share/man/man1/ringleader.1"]}


def test_page_structure() -> None:
    page = render(build_parser(), "9.9")
    assert page.startswith('.TH RINGLEADER 1 "" "ringleader 9.9" "User Commands"\n')
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS",
                    "EXIT STATUS", "ENVIRONMENT"):
        assert f"\n.SH {section}\n" in page
    for command in TABLE:
        assert f"\n.SS {command.name}\n" in page
    assert "\\fB\\-\\-since\\fR \\fIWHEN\\fR" in page
    # no line of text may start with a roff control character
    assert not [x for x in page.splitlines() if x.startswith("'")]
    assert roff_escape(".hidden -x \\") == "\\&.hidden \\-x \\e"


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
def test_page_renders_without_warnings() -> None:
    done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=manual(),
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man")
def test_man_shows_the_page(tmp_path: Path) -> None:
    page = tmp_path / "ringleader.1"
    page.write_text(manual())
    done = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100"})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "ringleader - run, watch and control groups of processes" in text
    assert f"ringleader {__version__}" in text
    assert "ringleader logs [NAME] [options]" in text
    assert "--since WHEN" in text
