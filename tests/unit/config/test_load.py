"""Semantics of both dialects, the library entry points and ``ringleader check``."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.cli.check import run_check
from ringleader.config.load import config_from_dicts, load_config, watcher_from_dict
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]


def test_toml_and_ini_give_the_same_config(fixtures: Path) -> None:
    toml = load_config(fixtures / "equiv.toml")
    ini = load_config(fixtures / "equiv.ini")
    assert toml.controller == ini.controller
    assert toml.watchers == ini.watchers
    web = toml.watchers[0]
    assert web.cmd == "python -m myapp --fd $(ringleader.sockets.web)"
    assert web.args == ["--workers", "2"]
    assert (web.stop_signal, web.umask, web.rlimits) == (signal.SIGINT, 0o22, {"nofile": 1024})
    assert web.env == {"APP_MODE": "production"}
    assert web.stdout_stream.kind == "file" and web.stdout_stream.backup_count == 3
    assert toml.controller.endpoint == "unix:" + str(fixtures / "run" / "rl.sock")
    assert toml.controller.loglevel == "debug"
    assert toml.source == str(fixtures / "equiv.toml")


def test_env_sections_glob_and_lists(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RL_BASE", "/base")
    path = write("c.ini", "[watcher:web1]\ncmd = x\n[watcher:db]\ncmd = y\n"
                 "[env]\nALL = 1\n[env:web*]\nWEB = $RL_BASE/w\n"
                 "[env:db, web1]\nBOTH = ${RL_BASE}\n")
    web1, db = load_config(path).watchers
    assert web1.env == {"ALL": "1", "WEB": "/base/w", "BOTH": "/base"}
    assert db.env == {"ALL": "1", "BOTH": "/base"}


def test_load_time_substitution(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RL_LOGDIR", "/var/log")
    monkeypatch.delenv("RL_UNSET", raising=False)
    path = write("c.ini", "[watcher:a]\ncmd = run $(circus.wid) $(circus.env.HOME)\n"
                 "working_dir = $(CIRCUS.env.rl_logdir)\nstdout_stream.filename = "
                 "$(circus.env.PORT)/a.log\n[env:a]\nPORT = 80\n")
    monkeypatch.delenv("HOME")  # set by the spawn (from uid): left for it
    (a,) = load_config(path).watchers
    assert a.cmd == "run $(circus.wid) $(circus.env.HOME)"
    assert a.working_dir == "/var/log"
    assert a.stdout_stream.filename == "80/a.log"
    # circus leaves an unknown one in place silently; it is an error naming it (issue 8
    # item 19: the command would run with the literal text)
    path.write_text("[watcher:a]\ncmd = run $(circus.env.RL_UNSET)\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: [watcher:a] cmd: $(circus.env.RL_UNSET): RL_UNSET is not set (expected a "
        "variable of the controller's environment, of [env] or of the watcher's env)"]


def test_ini_values_keep_percent_and_semicolon_rules(write: Write) -> None:
    # circus StrictConfigParser: only a ';' after whitespace starts a comment; no interpolation
    path = write("c.ini", "[watcher:a]\ncmd = date +%s ; comment\nargs = \"\"\n"
                 "[watcher:b]\ncmd = a;b %(x)s\n")
    a, b = load_config(path).watchers
    assert (a.cmd, a.args, b.cmd) == ("date +%s", [], "a;b %(x)s")


def test_includes_are_globs_and_cycles_end(fixtures: Path) -> None:
    config = load_config(fixtures / "main.ini")
    assert [w.name for w in config.watchers] == ["main", "a"]
    assert config.watchers[0].env == {"SHARED": "yes"}
    assert any('"missing-*.ini" matches no file' in w for w in config.warnings)


def test_circus_endpoints_and_unsupported_options(write: Write) -> None:
    path = write("c.ini", "[circus]\nendpoint = tcp://127.0.0.1:5555\nstatsd = true\n"
                 "[watcher:a]\ncmd = x\nuse_sockets = true\nhooks.before_start = m.f\n"
                 "[plugin:flap]\nuse = x\n[socket:web]\nport = 1\n")
    config = load_config(path)
    assert config.controller.endpoint is None
    assert config.warnings == [
        f"{path}: plugins are not supported yet, ignored: [plugin:flap]",
        f"{path}: [circus] endpoint: circus ZeroMQ TCP endpoint tcp://127.0.0.1:5555 "
        "ignored; the default unix socket is used",
        f"{path}: [circus] options not supported yet, ignored: statsd",
    ]
    (a,) = config.watchers
    assert a.use_sockets and a.hooks["before_start"].target == "m.f"
    assert [(s.name, s.port) for s in config.sockets] == [("web", 1)]


def test_value_normalisation(write: Write) -> None:
    path = write("c.ini", "[watcher:a]\ncmd = x\nshell = ON\nrespawn = no\nstop_signal = 9\n"
                 "uid = 0\ngid = root\nrlimit_core = unlimited\nrlimit_NOFILE = 10\n")
    (a,) = load_config(path).watchers
    assert (a.shell, a.respawn, a.stop_signal, a.uid, a.gid) == (True, False, 9, 0, 0)
    assert a.rlimits == {"core": -1, "nofile": 10}


def test_content_sniffing_without_extension(write: Write) -> None:
    assert load_config(write("conf", '[watchers.a]\ncmd = "x"\n')).watchers[0].name == "a"
    assert load_config(write("conf2", "[watcher:b]\ncmd = y\n")).watchers[0].name == "b"


def test_config_from_dicts_names_and_errors() -> None:
    config = config_from_dicts([
        {"cmd": "python worker.py", "numprocesses": 3},
        {"cmd": "python worker.py", "stop_signal": "SIGINT", "rlimit_nofile": 1024},
        {"cmd": "/usr/bin/redis-server --port 1"},
        {"cmd": "python -u -m pkg.jobs"},
        {"cmd": "x", "name": "worker-3"},
    ])
    names = [w.name for w in config.watchers]
    assert names == ["worker", "worker-2", "redis-server", "jobs", "worker-3"]
    assert config.watchers[1].stop_signal == signal.SIGINT
    with pytest.raises(ConfigError) as info:
        config_from_dicts([{"cmd": "x", "numprocesses": "four"}])
    assert info.value.problems == [
        'watcher[0] numprocesses: expected an integer >= 0, got "four"']


def test_watcher_from_dict_env_is_literal() -> None:
    w = watcher_from_dict({"cmd": "x", "env": {"A": "$HOME", "N": 1}})
    assert (w.name, w.env) == ("x", {"A": "$HOME", "N": "1"})
    with pytest.raises(ConfigError, match=r"^api uid: "):
        watcher_from_dict({"cmd": "x", "uid": "no-such-user-xyz"}, where="api")


def test_run_check_ok_human_and_json(fixtures: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_check(str(fixtures / "main.ini"), as_json=False, out=out, err=err) == 0
    assert "[watcher main]" in out.getvalue() and "  numprocesses" in out.getvalue()
    assert err.getvalue().startswith("warning: ")
    out = io.StringIO()
    assert run_check(str(fixtures / "equiv.toml"), as_json=True, out=out, err=err) == 0
    assert json.loads(out.getvalue())["watchers"][0]["name"] == "web"


def test_run_check_errors(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    missing = os.path.join(tmp_path, "x.toml")
    assert run_check(missing, as_json=False, out=out, err=err) == 2
    assert err.getvalue() == f"{missing}: no such file\n" and out.getvalue() == ""
