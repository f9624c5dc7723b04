"""Every mistake in a supervisord.conf is one line naming file, section and option, all of them
at once; what supervisord would silently ignore or we cannot do is a note."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.dialects.supervisord import looks_like_supervisord, translate_supervisord
from ringleader.config.dialects.translation import Translation
from ringleader.config.model import Config
from ringleader.errors import ConfigError

Load = Callable[[dict[str, Any]], Config]


@pytest.fixture
def conf(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "supervisord.conf") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        translate_supervisord(path)
    return err.value.problems


def program(body: str, header: str = "[program:web]") -> str:
    return f"[supervisord]\n{header}\n{body}\n"


@pytest.mark.parametrize("body, problem", [
    ("autorestrat=true\ncommand=x", 'autorestrat: unknown option (did you mean "autorestart"?)'),
    ("comand=x", 'comand: unknown option (did you mean "command"?)'),
    ("startsecs=soon\ncommand=x", "startsecs: expected an integer >= 0, got 'soon'"),
    ("autorestart=sometimes\ncommand=x",
     "autorestart: expected true, false or unexpected, got 'sometimes'"),
    ("stopsignal=STOPIT\ncommand=x", "stopsignal: expected a signal name such as TERM"),
    ("exitcodes=0;2\ncommand=x", "exitcodes: expected exit codes 0-255 separated by commas"),
    ("stdout_logfile_maxbytes=1.5MB\ncommand=x", "stdout_logfile_maxbytes: expected bytes"),
    ("umask=999\ncommand=x", "umask: expected an octal mode"),
    ("user=\ncommand=x\nenvironment=A=1 B=2", "environment: expected a comma after A=1"),
    ("process_name=web\nnumprocs=2\ncommand=x",
     "process_name: %(process_num) must be present within process_name when numprocs > 1"),
    ("numprocs=2\ncommand=x", "process_name: missing: %(process_num) must be present"),
    ("process_name=w %(process_num)d\nnumprocs=2\ncommand=x",
     "process_name: 'w $(ringleader.wid)' is not a valid process name"),
    ("stopasgroup=true\nkillasgroup=false\ncommand=x",
     "killasgroup: cannot be false with stopasgroup=true"),
    ("", "command: missing (expected the command to run)"),
    ("command=%(ENV_RL_SURELY_UNSET)s/bin/x",
     "command: %(ENV_RL_SURELY_UNSET)s: RL_SURELY_UNSET is not set in the environment"),
    ("command=date +%s", "command: a '%' that starts no %(name)s expansion"),
    ("command=x --n %(numprocess)d", "command: %(numprocess)d: unknown name 'numprocess'"),
])
def test_program_mistakes(conf: Callable[[str], Path], body: str, problem: str) -> None:
    path = conf(program(body))
    found = problems(path)
    assert any(p.startswith(f"{path}: [program:web] {problem}") for p in found), found


def test_every_problem_at_once(conf: Callable[[str], Path]) -> None:
    path = conf("[supervisord]\nloglevel=loud\n[program:a]\nstartsecs=x\n"
                "[program:b]\ncommand=y\nstartretries=-1\n[group:g]\nprograms=a,c\n")
    assert problems(path) == [
        f"{path}: [supervisord] loglevel: expected one of critical, error, warn, info, "
        "debug, trace, blather, got 'loud'",
        f"{path}: [group:g] programs: names unknown program 'c'",
        f"{path}: [program:a] command: missing (expected the command to run)",
        f"{path}: [program:a] startsecs: expected an integer >= 0, got 'x'",
        f"{path}: [program:b] startretries: expected an integer >= 0, got -1",
    ]


@pytest.mark.parametrize("text, problem", [
    ("[inet_http_server]\nport=*:9001\n", '[inet_http_server]: refused: Ringleader never '
     'opens a plaintext TCP control port; remove it and configure the TLS listener instead '
     '([ringleader.tcp] listen = "*:9001"'),
    ("[programm:web]\ncommand=x\n", "[programm:web]: unknown section (did you mean "
     "[program:web]?)"),
    ("[program]\ncommand=x\n", "[program]: a program section needs a name: [program:NAME]"),
    ("[program:a@b]\ncommand=x\n", "[program:a@b]: the name 'a@b' is not usable here"),
    ("[group:g]\nprograms=a\n[group:h]\nprograms=a\n[program:a]\ncommand=x\n",
     "[group:h] programs: 'a' is already in [group:g]"),
    ("[group:g]\n", "[group:g] programs: missing"),
    ("[eventlistener:l]\ncommand=x\n", "[eventlistener:l] events: missing"),
    ("[eventlistener:l]\ncommand=x\nevents=TICK_61\n",
     "[eventlistener:l] events: unknown event type TICK_61"),
    ("[eventlistener:l]\ncommand=x\nevents=TICK_5\nredirect_stderr=true\n",
     "[eventlistener:l] redirect_stderr: true is not allowed for an event listener"),
    ("[fcgi-program:f]\ncommand=x\nsocket=unix://relative.sock\n",
     "[fcgi-program:f] socket: the unix socket path 'relative.sock' is not absolute"),
    ("[fcgi-program:f]\ncommand=x\nsocket=tcp://h:1\nsocket_mode=0700\n",
     "[fcgi-program:f] socket_mode: only for a unix socket"),
    ("[fcgi-program:f]\ncommand=x\nsocket=udp://h:1\n",
     "[fcgi-program:f] socket: expected tcp://HOST:PORT or unix:///PATH, got 'udp://h:1'"),
    ("[unix_http_server]\nchmod=0700\n", "[unix_http_server] file: missing"),
    ("[include]\n", "[include] files: missing"),
    ("[supervisord]\nlogfile=%(here)\n", "[supervisord] logfile: a '%' that starts no"),
    ("[program:web]\ncommand x\n", "INI syntax error: expected 'name = value' or "
     "'[section]'"),
    ("command=x\n[program:web]\n", "INI syntax error: a line before any [section]"),
])
def test_section_mistakes(conf: Callable[[str], Path], text: str, problem: str) -> None:
    path = conf(text)
    found = problems(path)
    assert any(p.startswith(f"{path}") and problem in p for p in found), found


def test_notes_for_what_supervisord_ignores_or_we_drop(conf: Callable[[str], Path],
                                                       native_load: Load) -> None:
    path = conf("[custom]\nx=1\n[ctlplugin:x]\nsupervisor.ctl_factory = a:b\n"
                "[rpcinterface:extra]\nsupervisor.rpcinterface_factory = a:b\n"
                "[supervisord]\nloglevel=blather\nenvironment=PASS=\"a$HOME\"\n"
                "[program:web]\ncommand=x\nfavourite_colour=blue\nserverurl=http://h:1\n"
                "stdout_events_enabled=true\nstderr_syslog=true\nstdout_logfile=syslog\n"
                "[eventlistener:l]\ncommand=y\nevents=TICK_5\nresult_handler=my:handler\n")
    t = translate_supervisord(path)
    notes = [str(n).removeprefix(f"{path}: ") for n in t.notes]
    for expected in (
        "[custom]: unknown section, ignored (as supervisord does)",
        "[ctlplugin:x]: dropped: supervisorctl plugins are not supported",
        "[rpcinterface:extra]: dropped: XML-RPC interface plugins are not supported",
        "[supervisord] loglevel: blather is debug here",
        "[supervisord] environment: PASS: the native loader expands $NAME in env values; "
        "supervisord passed it literally",
        "[program:web] favourite_colour: not a supervisord option, ignored",
        "[program:web] serverurl: dropped: there is no supervisord XML-RPC server for "
        "SUPERVISOR_SERVER_URL to point to",
        "[program:web] stdout_events_enabled: dropped: PROCESS_LOG events are not supported",
        "[program:web] stderr_syslog: dropped: output to syslog is not supported",
        "[program:web] stdout_syslog: dropped: output to syslog is not supported",
        "[eventlistener:l] result_handler: dropped: a custom result handler is a "
        "supervisord plugin; the default (OK/FAIL) is used",
    ):
        assert expected in notes
    assert t.document["ringleader"] == {"loglevel": "debug"}
    assert t.document["watchers"]["web"]["env"] == {"PASS": "a$HOME"}
    native_load(t.document)


def test_includes(conf: Callable[[str], Path], tmp_path: Path) -> None:
    conf("[program:a]\ncommand=%(here)s/a\n[include]\nfiles=nested.conf\n", "conf.d/a.conf")
    conf("[program:z]\ncommand=z\n", "conf.d/z.ini")
    conf("[program:n]\ncommand=n\n", "conf.d/nested.conf")
    os.symlink(tmp_path / "conf.d/z.ini", tmp_path / "conf.d/link.conf")
    main = conf("[supervisord]\n[include]\nfiles = conf.d/*.conf\n  conf.d/*.ini none/*.x\n")
    found = problems(main)
    assert found == [f"conf.d/link.conf: a symbolic link (to {tmp_path}/conf.d/z.ini); "
                     "refusing to follow it: name the real file"] or \
        found[0].endswith("refusing to follow it: name the real file")
    (tmp_path / "conf.d/link.conf").unlink()
    t = translate_supervisord(main)
    assert list(t.document["watchers"]) == ["a", "n", "z"]
    assert t.document["watchers"]["a"]["cmd"] == f"{tmp_path}/conf.d/a"  # its own here
    assert t.sources == [str(main), *(str(tmp_path / "conf.d" / n)
                                      for n in ("a.conf", "nested.conf", "z.ini"))]
    notes = [str(n) for n in t.notes]
    assert any("[include]: ignored: supervisord reads the [include] of the main file only"
               in n for n in notes)
    assert any("files: 'none/*.x' matches no file" in n for n in notes)


def test_here_env_and_defaults(conf: Callable[[str], Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, native_load: Load) -> None:
    monkeypatch.setenv("RL_APP", "/srv/app")
    odd = tmp_path / "50%off"
    odd.mkdir()
    path = conf("[DEFAULT]\nautorestart=false\n[supervisord]\n"
                "environment=BASE=\"/b\",ROOT=\"%(ENV_RL_APP)s/root\"\n"
                "[program:web]\ncommand=%(ENV_RL_APP)s/run --base %(ENV_BASE)s "
                "--conf %(here)s/x --own %(ENV_OWN)s --root %(ENV_ROOT)s --app %(ENV_APP)s\n"
                "environment=OWN=\"o\",APP=\"%(ENV_RL_APP)s\"\n"
                "directory=%(ENV_RL_APP)s\n", "50%off/supervisord.conf")
    t = translate_supervisord(path)
    web = t.document["watchers"]["web"]
    assert web["cmd"] == (f"$(ringleader.env.RL_APP)/run --base /b --conf {odd}/x --own o "
                          "--root $(ringleader.env.RL_APP)/root --app $(ringleader.env.RL_APP)")
    assert web["env"] == {"BASE": "/b", "ROOT": "${RL_APP}/root", "OWN": "o",
                          "APP": "${RL_APP}"}
    assert web["working_dir"] == "$(ringleader.env.RL_APP)"
    assert web["respawn"] is False  # from [DEFAULT]
    assert any("[DEFAULT]: its options apply to the program" in str(n) for n in t.notes)
    loaded = native_load(t.document).watchers[0]  # the references resolve when loaded
    assert loaded.cmd.startswith("/srv/app/run --base /b") and "--root /srv/app/root" in \
        loaded.cmd
    assert (loaded.env["APP"], loaded.env["ROOT"], loaded.working_dir) == \
        ("/srv/app", "/srv/app/root", "/srv/app")


def test_a_fragment_without_supervisord_section(conf: Callable[[str], Path]) -> None:
    t = translate_supervisord(conf("[program:web]\ncommand=x\n"))
    assert isinstance(t, Translation) and list(t.document) == ["watchers"]
    assert "no [supervisord] section: supervisord would refuse this file" in str(t.notes[0])


def test_fcgi_program_gets_its_socket_on_stdin(conf: Callable[[str], Path],
                                                native_load: Load) -> None:
    path = conf("[supervisord]\n[fcgi-program:php]\ncommand=php-cgi\n"
                "socket=unix:///run/php/%(program_name)s.sock\nsocket_owner=www-data:www-data\n"
                "socket_mode=0660\nsocket_backlog=128\nnumprocs=2\n"
                "process_name=%(program_name)s_%(process_num)d\n"
                "[fcgi-program:py]\ncommand=app.fcgi\nsocket=tcp://127.0.0.1:9000\n")
    t = translate_supervisord(path)
    assert t.document["sockets"] == {
        "php": {"family": "unix", "path": "/run/php/php.sock", "mode": "0660",
                "owner": "www-data", "group": "www-data", "backlog": 128},
        "py": {"host": "127.0.0.1", "port": 9000}}
    assert t.document["watchers"]["php"]["stdin_socket"] == "php"
    config = native_load(t.document)
    assert {s.name: s.mode for s in config.sockets} == {"php": 0o660, "py": None}


def test_childlogdir_keeps_auto_logs_in_files(conf: Callable[[str], Path],
                                              tmp_path: Path) -> None:
    path = conf(f"[supervisord]\nchildlogdir={tmp_path}\n[program:web]\ncommand=x\n"
                "numprocs=2\nprocess_name=web%(process_num)d\n")
    t = translate_supervisord(path)
    web = t.document["watchers"]["web"]
    assert web["stdout_stream"]["filename"] == f"{tmp_path}/web$(ringleader.wid)-stdout.log"
    assert web["stderr_stream"]["filename"] == f"{tmp_path}/web$(ringleader.wid)-stderr.log"
    assert not any("AUTO log files" in str(n) for n in t.notes)


def test_unix_server_access(conf: Callable[[str], Path]) -> None:
    path = conf("[supervisord]\n[unix_http_server]\nfile=run/s.sock\nchmod=0777\n")
    t = translate_supervisord(path)
    assert t.document["ringleader"] == {"endpoint": "unix:" + os.path.abspath("run/s.sock")}
    notes = " ".join(str(n) for n in t.notes)
    assert "relative to the directory the controller starts in" in notes
    assert "group access without a chown group is not carried over" in notes
    assert "access for every user is not carried over" in notes


@pytest.mark.parametrize("text, expected", [
    ("[supervisord]\n", True), ("[program:web]\ncommand=x\n", True),
    ("; a comment\n  [program:x]  ; trailing\n", True),
    (";[program:web]\n", False), ("[circus]\n[watcher:web]\ncmd=x\n", False),
    ("[watchers.web]\ncmd = 'x'\n", False), ("web: python app.py\n", False),
    ("[program:]\n", False), ("x = '[supervisord]'\n", False),
])
def test_detection(text: str, expected: bool) -> None:
    assert looks_like_supervisord(text) is expected
