"""A loaded Config (circus INI or TOML) printed as native TOML loads back to the same Config:
the path `convert` takes for circus files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringleader.config.dialects.native_document import document_from_config
from ringleader.config.dialects.toml_writer import dump_toml
from ringleader.config.load import load_config
from ringleader.config.model import Config

CONFIG_FIXTURES = Path(__file__).parents[3] / "fixtures" / "config"
HASH = "sha256:" + "ab" * 32


def reloaded(config: Config, tmp_path: Path) -> Config:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "converted.toml"
    path.write_text(dump_toml(document_from_config(config)))
    return load_config(path)


@pytest.mark.parametrize("name", ["equiv.ini", "equiv.toml", "features.ini", "features.toml",
                                  "main.ini"])
def test_fixture_configs_survive_the_trip(name: str, tmp_path: Path) -> None:
    config = load_config(CONFIG_FIXTURES / name)
    again = reloaded(config, tmp_path)
    assert (again.controller, again.watchers, again.sockets) == \
        (config.controller, config.watchers, config.sockets)


def test_controller_api_tables_and_octal_values(tmp_path: Path) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("")
    source = tmp_path / "ringleader.toml"
    source.write_text(f"""
[ringleader]
umask = "027"
allowed_uids = [0, 65534]
[ringleader.tcp]
listen = "127.0.0.1:5555"
tls_cert = "c.pem"
tls_key = "k.pem"
[[ringleader.tokens]]
name = "ci"
role = "read"
hash = "{HASH}"
[[ringleader.tokens]]
name = "ops"
role = "admin"
hash = "{HASH}"
[watchers.web]
cmd = "x"
stop_signal = "SIGQUIT"
umask = "002"
rlimits = {{ nofile = 4096, core = -1 }}
[sockets.s]
family = "unix"
path = "/tmp/rl-doc.sock"
mode = "0660"
""")
    config = load_config(source)
    doc = document_from_config(config)
    assert doc["ringleader"]["umask"] == "027" and doc["watchers"]["web"]["umask"] == "002"
    assert doc["watchers"]["web"]["stop_signal"] == "SIGQUIT"
    assert doc["sockets"]["s"]["mode"] == "660"
    assert [t["name"] for t in doc["ringleader"]["tokens"]] == ["ci", "ops"]
    again = reloaded(config, tmp_path / "out")
    assert (again.controller, again.watchers, again.sockets) == \
        (config.controller, config.watchers, config.sockets)


def test_defaults_are_left_out() -> None:
    config = Config()
    assert document_from_config(config) == {}
