"""supervisord's value syntaxes, checked against supervisor's own parsers where they agree,
and the cases where we refuse what supervisord accepts by accident."""

from __future__ import annotations

import signal

import pytest
from supervisor import datatypes

from ringleader.config.dialects.supervisord_values import (
    PROCESS_NUM,
    Invalid,
    expand,
    to_bool,
    to_byte_size,
    to_env_pairs,
    to_exitcodes,
    to_logfile,
    to_octal,
    to_restart,
    to_signal,
)


def no_env(name: str) -> str | None:
    return None


ENV_PAIRS = [
    'A="1",B="2"', "KEY=value", 'KEY="with space",K2=v2', "K='single',K2=\"double\"",
    'PATH="/usr/local/bin:/usr/bin",HOME="/home/app"', 'URL="postgres://u:p@db/x?a=1"',
    "A=1,B=2,C=3", 'EMPTY=""', 'BS="a\\d"', "DOTTED=a.b+c-d(e):f/g", "K=v,\nK2=v2",
    'COMMA="a,b"', "", 'A="1",\n  B="2",',
]


@pytest.mark.parametrize("text", ENV_PAIRS)
def test_environment_pairs_as_supervisord_reads_them(text: str) -> None:
    assert to_env_pairs(text) == datatypes.dict_of_key_value_pairs(text)


@pytest.mark.parametrize("text, accepted_by_supervisord", [
    ("A=1 B=2", False), ("A=1;B=2", True), ("A=1 junk,B=2", False), ("A=", False),
    ('A="unterminated', False), ("=1", False), ("A=x@y", False),
])
def test_environment_pairs_we_refuse(text: str, accepted_by_supervisord: bool) -> None:
    with pytest.raises(Invalid, match=r"KEY=|comma|closing"):
        to_env_pairs(text)
    try:
        datatypes.dict_of_key_value_pairs(text)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == accepted_by_supervisord


@pytest.mark.parametrize("text", ["0", "1024", "1KB", "50MB", "1gb", "2 Mb", " 7 "])
def test_byte_sizes(text: str) -> None:
    assert to_byte_size(text) == datatypes.byte_size(text)


@pytest.mark.parametrize("text", ["1.5MB", "10K", "-1", "MB", "1TB"])
def test_bad_byte_sizes(text: str) -> None:
    with pytest.raises(Invalid, match="KB, MB or GB"):
        to_byte_size(text)


@pytest.mark.parametrize("text", ["0", "0,2", " 1 , 2 ,255"])
def test_exitcodes(text: str) -> None:
    assert to_exitcodes(text) == datatypes.list_of_exitcodes(text)


@pytest.mark.parametrize("text", ["", "256", "a", "0,,2", "-1"])
def test_bad_exitcodes(text: str) -> None:
    with pytest.raises(Invalid, match="exit codes 0-255"):
        to_exitcodes(text)


@pytest.mark.parametrize("text", ["TERM", "term", "SIGQUIT", "9", "HUP", "usr1", "SIGCLD"])
def test_signals(text: str) -> None:
    assert signal.Signals[to_signal(text)] == datatypes.signal_number(text)


@pytest.mark.parametrize("text", ["NOPE", "0", "999", "SIG_DFL", ""])
def test_bad_signals(text: str) -> None:
    with pytest.raises(Invalid, match="signal name"):
        to_signal(text)


def test_booleans_restart_octal_logfile() -> None:
    for text in ("true", "Yes", "on", "1", "false", "NO", "off", "0"):
        assert to_bool(text) == datatypes.boolean(text)
    with pytest.raises(Invalid, match="true or false"):
        to_bool("maybe")
    assert [to_restart(t) for t in ("true", "false", "Unexpected")] == [True, False,
                                                                          "unexpected"]
    with pytest.raises(Invalid, match="true, false or unexpected"):
        to_restart("sometimes")
    assert to_octal("022") == 0o22 and to_octal("0700") == 0o700
    with pytest.raises(Invalid, match="octal"):
        to_octal("999")
    assert [to_logfile(t) for t in ("auto", "None", "syslog", "/x")] == ["AUTO", "NONE",
                                                                          "SYSLOG", "/x"]


NAMES = {"program_name": "web", "here": "/srv/app", "numprocs": 4, "process_num": PROCESS_NUM}


@pytest.mark.parametrize("text, native", [
    ("%(program_name)s_%(process_num)02d", "web_$(ringleader.wid:02d)"),
    ("--port=80%(process_num)d", "--port=80$(ringleader.wid)"),
    ("%(process_num)s", "$(ringleader.wid)"),
    ("%(process_num)-3d|", "$(ringleader.wid:<3d)|"),
    ("%(process_num)5s", "$(ringleader.wid:5d)"),
    ("%(here)s/log/%(numprocs)03d.log", "/srv/app/log/004.log"),
    ("100%% sure", "100% sure"),
    ("date +%%s", "date +%s"),
    ("no expansions", "no expansions"),
])
def test_expansions(text: str, native: str) -> None:
    assert expand(text, NAMES, no_env) == native


def test_env_expansions_become_references_and_unset_ones_are_refused() -> None:
    def ref(name: str) -> str | None:
        return f"$(ringleader.env.{name})" if name == "HOME" else None

    assert expand("%(ENV_HOME)s/bin", NAMES, ref) == "$(ringleader.env.HOME)/bin"
    assert expand("%(ENV_X)s", {**NAMES, "ENV_X": "file"}, ref) == "file"
    with pytest.raises(Invalid, match="NOPE is not set in the environment"):
        expand("%(ENV_NOPE)s", NAMES, ref)


@pytest.mark.parametrize("text, message", [
    ("%(nope)s", "unknown name 'nope' .available: here, numprocs, process_num, program_name"),
    ("date +%s", r"a '%' that starts no %\(name\)s expansion"),
    ("50%", "a '%' that starts no"),
    ("%(program_name)d", r"cannot format 'web' that way"),
    ("%(process_num)x", r"only %\(process_num\)d"),
    ("%(process_num).3d", r"only %\(process_num\)d"),
])
def test_bad_expansions(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        expand(text, NAMES, no_env)
