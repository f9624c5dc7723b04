"""Every user mistake is one ConfigError line naming file, section and field."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.config.load import load_config
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("numprocesses", '"four"', 'numprocesses: expected an integer >= 0, got "four"'),
    ("numprocesses", "-1", "numprocesses: expected an integer >= 0, got -1"),
    ("shell", '"maybe"', 'shell: expected a boolean'),
    ("graceful_timeout", '"soon"', 'graceful_timeout: expected a number >= 0, got "soon"'),
    ("priority", "1.5", "priority: expected an integer, got 1.5"),
    ("working_dir", "3", "working_dir: expected a string, got 3"),
    ("args", "[1, 2]", "args: expected a string or a list of strings"),
    ("stop_signal", '"SIGNOPE"', 'stop_signal: expected a signal name'),
    ("stop_signal", "99", "stop_signal: expected a signal name"),
    ("umask", '"999"', 'umask: expected an octal umask'),
    ("rlimit_nofile", '"lots"', 'rlimit_nofile: expected an integer >= 0, or "unlimited"'),
    ("env", '"A=1"', "env: expected a table of NAME = value"),
])
def test_bad_value_per_kind(write: Write, option: str, value: str, expected: str) -> None:
    path = write("ringleader.toml", f'[watchers.web]\ncmd = "x"\n{option} = {value}\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: [watchers.web] {expected}")


def test_every_problem_is_reported_at_once(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nnumprocesses = four\nshell = maybe\n"
                 "[watcher:b]\nnumprocesss = 2\n")
    found = problems(path)
    assert found == [
        f'{path}: [watcher:a] numprocesses: expected an integer >= 0, got "four"',
        f'{path}: [watcher:a] shell: expected a boolean (true/false, yes/no, on/off, 1/0), '
        'got "maybe"',
        f'{path}: [watcher:b] numprocesss: unknown option (did you mean "numprocesses"?)',
        f"{path}: [watcher:b] cmd: missing (expected the command to run)",
    ]


def test_unknown_user_and_group_are_named(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nuid = no-such-user-xyz\ngid = no-such-grp\n")
    assert problems(path) == [
        f'{path}: [watcher:a] uid: unknown user "no-such-user-xyz" (expected an existing '
        "user name or a uid)",
        f'{path}: [watcher:a] gid: unknown group "no-such-grp" (expected an existing group '
        "name or a gid)",
    ]


def test_bad_rlimit_name_suggests(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nrlimit_nofiles = 10\n")
    assert problems(path) == [
        f'{path}: [watcher:a] rlimit_nofiles: unknown option (did you mean "rlimit_nofile"?)']


def test_file_stream_without_filename(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nstdout_stream.class = FileStream\n")
    assert problems(path) == [
        f"{path}: [watcher:a] stdout_stream.filename: a file stream needs a filename"]


def test_unknown_stream_class(write: Write) -> None:
    # a dotted path is a custom class (circus's stream interface); a bare unknown name is not
    path = write("r.ini", "[watcher:a]\ncmd = x\nstderr_stream.class = Custom\n")
    (line,) = problems(path)
    assert 'stderr_stream.class: unknown stream class "Custom"' in line


def test_singleton_with_many_processes(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nsingleton = true\nnumprocesses = 2\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: [watchers.a] numprocesses: a singleton watcher")


def test_bad_watcher_name(write: Write) -> None:
    path = write("r.ini", "[watcher:bad name]\ncmd = x\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: [watcher:bad name] name: Expected `str` matching regex")


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.ini") == [f"{tmp_path / 'nope.ini'}: no such file"]


def test_unreadable_directory(tmp_path: Path) -> None:
    (line,) = problems(tmp_path)
    assert line.startswith(f"{tmp_path}: cannot read")


def test_toml_syntax_error_has_line(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nnumprocesses = \n')
    (line,) = problems(path)
    assert line.startswith(f"{path}:3: TOML syntax error: ")


def test_ini_syntax_errors_have_lines(write: Write) -> None:
    """File and line, never the line itself (issue 8 item 17: the file may be no config
    file at all, and its content is not ours to print)."""
    path = write("r.ini", "cmd = x\n[watcher:a]\ncmd = x\nthis is not an option\n")
    assert problems(path) == [
        f"{path}:1: INI syntax error: option outside of any [section]",
        f"{path}:4: INI syntax error: expected 'name = value' or '[section]'",
    ]


def test_a_file_without_any_section_is_not_a_config_file(write: Write) -> None:
    path = write("r.ini", "root:secret:1:0\ndaemon:*:1:0\n")
    assert problems(path) == [f"{path}: not a config file (no [section] in it)"]


def test_toml_tcp_endpoint_is_refused(write: Write) -> None:
    path = write("r.toml", '[ringleader]\nendpoint = "tcp://0.0.0.0:5555"\n')
    (line,) = problems(path)
    assert "needs TLS and a token" in line and line.startswith(f"{path}: [ringleader] endpoint")


def test_unknown_top_level_and_controller_options(write: Write) -> None:
    path = write("r.toml", '[ringleader]\nloglevl = "debug"\n[watcher.a]\ncmd = "x"\n')
    assert problems(path) == [
        f'{path}: watcher: unknown option (did you mean "watchers"?)',
        f'{path}: [ringleader] loglevl: unknown option (did you mean "loglevel"?)',
    ]


def test_duplicate_watcher_across_includes(fixtures: Path) -> None:
    (line,) = problems(fixtures / "dup.ini")
    assert '[watcher:a]: duplicate watcher "a" (already defined in ' in line
    assert os.path.join("dup", "b.ini") in line


def test_ini_repeats_are_errors_naming_both_lines(write: Write) -> None:
    """circus merges a repeated section and keeps the first of a repeated option, silently
    (issue 8 item 19)."""
    path = write("r.ini", "[watcher:w]\ncmd = x\nnumprocesses = 1\nnumprocesses = 5\n"
                 "[watcher:w]\ncmd = y\n")
    assert problems(path) == [
        f"{path}:4: [watcher:w] numprocesses: set twice (first at line 3): keep one",
        f"{path}:5: [watcher:w] is repeated (first at line 1): keep one",
        f"{path}:6: [watcher:w] cmd: set twice (first at line 2): keep one",
    ]
