"""Issue 8 items 17 and 19 (config part): config errors that leak or stay silent.

Item 17: an error in an included file echoed its lines (`include = /etc/shadow` printed
its entries): messages name the file and line, never the content of a file that is not a
config file. Item 19: duplicate `[watcher:w]` sections, duplicate keys in an INI section and
`$(circus.env.NOPE)` passed silently: each is an error naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import cli, one_error_line, write_config

SECRET = "s3cr3t-hash-do-not-print"


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_text(f"root:{SECRET}:19000:0:99999:7:::\n"
                    f"daemon:*:19000:0:99999:7:::\n")
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("dialect", ["ini", "toml"])
def test_error_in_included_file_does_not_echo_its_content(dialect: str,
                                                          tmp_path: Path) -> None:
    secret = _secret_file(tmp_path)
    if dialect == "ini":
        config = write_config(tmp_path, f"[circus]\ninclude = {secret}\n"
                              "[watcher:w]\ncmd = sleep 600\n", name="circus.ini")
    else:
        config = write_config(tmp_path, f'[ringleader]\ninclude = ["{secret}"]\n'
                              '[watchers.w]\ncmd = "sleep 600"\n')
    for command in ("check", "run"):
        done = cli(command, str(config))
        assert done.returncode == 2, done.stderr
        one_error_line(done.stderr)
        assert SECRET not in done.stderr + done.stdout, f"`{command}` printed the secret"
        assert str(secret) in done.stderr or "shadow" in done.stderr, "the file is not named"


INI_CASES = [
    pytest.param("[watcher:w]\ncmd = sleep 600\n[watcher:w]\ncmd = sleep 601\n", "w",
                 id="duplicate_watcher_section"),
    pytest.param("[watcher:w]\ncmd = sleep 600\nnumprocesses = 1\nnumprocesses = 5\n",
                 "numprocesses", id="duplicate_key"),
    pytest.param("[watcher:w]\ncmd = sleep $(circus.env.NOPE_NOT_SET)\n", "NOPE_NOT_SET",
                 id="unknown_env_reference"),
]


@pytest.mark.parametrize(("text", "named"), INI_CASES)
def test_ini_ambiguity_is_an_error_naming_it(text: str, named: str, tmp_path: Path) -> None:
    """circus keeps the first value silently; an operator editing the second one would
    never know. Each is an error naming the section, key or variable (exit 2)."""
    config = write_config(tmp_path, text, name="circus.ini")
    done = cli("check", str(config))
    assert done.returncode == 2, f"check accepted it:\n{done.stderr}"
    one_error_line(done.stderr)
    assert named in done.stderr
