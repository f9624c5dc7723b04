"""Issue 13, finding things: the config a command uses when none is named (`-c`, then
$RINGLEADER_CONFIG, ./ringleader.toml|.ini|circus.ini, $XDG_CONFIG_HOME/ringleader/,
/etc/ringleader/), the same for the console (which reads only the endpoint), and
`ringleader -c CONFIG check`. Through the real CLI, in real folders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_controller import RINGLEADER, Controller, cli

from ringleader.testing import wait_until_sync

GOOD = '[watchers.ok]\ncmd = "sleep 600"\n'
BAD = "[watchers.broken]\nnumprocesses = -1\n"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose discovery sees only what the test puts in `tmp_path`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RINGLEADER_CONFIG", "RINGLEADER_ENDPOINT", "XDG_CONFIG_HOME")}
    env["HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


@pytest.fixture
def here(tmp_path: Path) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def test_the_current_folder_is_searched_in_order(tmp_path: Path, here: Path) -> None:
    (here / "circus.ini").write_text("[watcher:broken]\nnumprocesses = -1\n")
    broken = cli("check", env=env_for(tmp_path), cwd=here)
    assert broken.returncode == 2 and "circus.ini" in broken.stderr, broken.stderr
    (here / "ringleader.toml").write_text(GOOD)  # first in the order: wins
    done = cli("check", env=env_for(tmp_path), cwd=here)
    assert done.returncode == 0, done.stderr
    assert "ringleader.toml" in done.stdout.splitlines()[0]


def test_ringleader_config_comes_before_the_current_folder(tmp_path: Path, here: Path) -> None:
    (here / "ringleader.toml").write_text(BAD)
    named = tmp_path / "elsewhere.toml"
    named.write_text(GOOD)
    done = cli("check", env=env_for(tmp_path, RINGLEADER_CONFIG=str(named)), cwd=here)
    assert done.returncode == 0, done.stderr
    missing = cli("check", env=env_for(tmp_path, RINGLEADER_CONFIG=str(tmp_path / "no.toml")),
                  cwd=here)
    assert missing.returncode == 2
    assert missing.stderr == f"error: $RINGLEADER_CONFIG names {tmp_path}/no.toml: no such file\n"


def test_the_user_folder_xdg_or_home(tmp_path: Path, here: Path) -> None:
    home_config = tmp_path / "home" / ".config" / "ringleader" / "ringleader.toml"
    home_config.parent.mkdir(parents=True)
    home_config.write_text(GOOD)
    done = cli("check", env=env_for(tmp_path), cwd=here)
    assert done.returncode == 0 and str(home_config) in done.stdout, done.stderr
    xdg = tmp_path / "xdg"
    (xdg / "ringleader").mkdir(parents=True)
    (xdg / "ringleader" / "ringleader.ini").write_text("[watcher:broken]\nnumprocesses = -1\n")
    refused = cli("check", env=env_for(tmp_path, XDG_CONFIG_HOME=str(xdg)), cwd=here)
    assert refused.returncode == 2 and "xdg/ringleader/ringleader.ini" in refused.stderr


def test_nothing_found_is_one_line_naming_every_place(tmp_path: Path, here: Path) -> None:
    if any(Path("/etc/ringleader", n).exists() for n in ("ringleader.toml", "ringleader.ini")):
        pytest.skip("this machine has a system config in /etc/ringleader")
    xdg = tmp_path / "xdg"
    for command in ("check", "run", "up"):
        done = cli(command, env=env_for(tmp_path, XDG_CONFIG_HOME=str(xdg)), cwd=here)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        for place in ("$RINGLEADER_CONFIG", "./ringleader.toml", "./circus.ini", "./Procfile",
                      f"{xdg}/ringleader/ringleader.toml", "/etc/ringleader/ringleader.toml"):
            assert place in done.stderr, (command, place, done.stderr)


def test_global_config_option_before_check(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(GOOD)
    before = cli("-c", str(config), "check", "--json")
    after = cli("check", str(config), "--json")
    assert before.returncode == after.returncode == 0, before.stderr
    assert before.stdout == after.stdout
    config.write_text(BAD)
    refused = cli("-c", str(config), "check")
    assert refused.returncode == 2 and "numprocesses" in refused.stderr


def test_run_and_the_console_find_the_same_config(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    """The controller started from the folder is found by a bare `status` there, from
    anywhere through $RINGLEADER_CONFIG, and through a found config naming its endpoint."""
    ctl = controllers(GOOD)
    elsewhere = tmp_path / "cwd-2"
    elsewhere.mkdir()
    done = cli("status", env=env_for(tmp_path), cwd=tmp_path)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    by_env = cli("status", env=env_for(tmp_path, RINGLEADER_CONFIG=str(ctl.config)),
                 cwd=elsewhere)
    assert by_env.returncode == 0 and "ok" in by_env.stdout, by_env.stderr
    nothing = cli("status", env=env_for(tmp_path, XDG_CONFIG_HOME=str(elsewhere)),
                  cwd=elsewhere)
    assert nothing.returncode == 3 and "unix:ringleader.sock" in nothing.stderr
    (elsewhere / "ringleader.toml").write_text(
        f'[ringleader]\nendpoint = "unix:../ringleader.sock"\n{GOOD}')
    by_endpoint = cli("status", env=env_for(tmp_path), cwd=elsewhere)
    assert by_endpoint.returncode == 0 and "ok" in by_endpoint.stdout, by_endpoint.stderr


LOADED = ("import sys; from ringleader.cli.main import main; code = main(sys.argv[1:]); "
          "print(' '.join(sorted(sys.modules))); sys.exit(code)")


def test_a_discovered_config_keeps_the_console_light(tmp_path: Path, here: Path) -> None:
    """A found config that names no endpoint needs no parse: no loader, no msgspec."""
    (here / "ringleader.toml").write_text(GOOD)
    proc = subprocess.run([sys.executable, "-c", LOADED, "status"], capture_output=True,
                          text=True, timeout=30, cwd=here, env=env_for(tmp_path))
    assert proc.returncode == 3, proc.stderr
    assert f"unix:{here}/ringleader.sock" in proc.stderr
    loaded = proc.stdout.split()
    assert [n for n in loaded if n.startswith(("msgspec", "ringleader.config.load",
                                                "ringleader.engine"))] == []


def test_run_without_a_config_argument_uses_the_discovered_one(tmp_path: Path,
                                                                here: Path) -> None:
    """`run` finds the config by itself (the daemon is ours and stopped at the end)."""
    (here / "ringleader.toml").write_text(GOOD)
    proc = subprocess.Popen([*RINGLEADER, "run"], cwd=here, env=env_for(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def answers() -> bool:
            return proc.poll() is not None or cli(
                "status", "-e", f"unix:{here}/ringleader.sock").returncode == 0

        wait_until_sync(answers, timeout=30, what="the controller run from the folder")
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
