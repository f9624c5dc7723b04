"""config.places: the order of config discovery and the default places of a controller's
files (the CLI side is in tests/functional/cli/test_discovery.py, test_system_config.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringleader.config import places


def test_candidates_in_order_and_a_relative_xdg_is_ignored(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/dir"}
    home = os.path.expanduser("~")  # expanduser reads $HOME of the process, not `env`
    assert places.candidates(env) == [
        "./ringleader.toml", "./ringleader.ini", "./circus.ini", "./supervisord.conf",
        "./Procfile",
        f"{home}/.config/ringleader/ringleader.toml",
        f"{home}/.config/ringleader/ringleader.ini",
        "/etc/ringleader/ringleader.toml", "/etc/ringleader/ringleader.ini"]
    xdg = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert places.candidates(xdg)[5] == f"{tmp_path}/ringleader/ringleader.toml"


def test_discover_prefers_the_environment_then_the_first_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    (tmp_path / "xdg" / "ringleader").mkdir(parents=True)
    (tmp_path / "xdg" / "ringleader" / "ringleader.ini").write_text("")
    assert places.discover(env) == f"{tmp_path}/xdg/ringleader/ringleader.ini"
    (tmp_path / "circus.ini").write_text("")
    assert places.discover(env) == "./circus.ini"
    (tmp_path / "ringleader.toml").write_text("")
    assert places.discover(env) == "./ringleader.toml"
    named = tmp_path / "named.toml"
    named.write_text("")
    assert places.discover({**env, "RINGLEADER_CONFIG": str(named)}) == str(named)
    with pytest.raises(places.NoConfig, match=r"RINGLEADER_CONFIG names /no/such: no such"):
        places.discover({**env, "RINGLEADER_CONFIG": "/no/such"})


def test_system_configs_and_their_files(tmp_path: Path) -> None:
    assert places.is_system_config("/etc/ringleader/web.toml")
    assert not places.is_system_config("/etcetera/web.toml")
    assert not places.is_system_config(str(tmp_path / "web.toml"))
    link = tmp_path / "linked.toml"
    link.symlink_to("/etc/ringleader/web.toml")  # dangling is fine: realpath resolves it
    assert places.is_system_config(str(link))
    assert places.default_socket("/etc/ringleader/web.toml") == "/run/ringleader/web.sock"
    assert places.default_socket(str(tmp_path / "a.toml")) == f"{tmp_path}/ringleader.sock"
    assert places.system_file("/etc/x/circus.ini", places.STATE_DIR, ".state") == \
        "/var/lib/ringleader/circus.state"
