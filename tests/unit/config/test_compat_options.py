"""The options that come from supervisord and circus, through the one validator: their
values, the rules between them, free-form options, supervisord names in native sections,
[groups.NAME]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.config.load import config_from_dicts, load_config
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


def problems(**options: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_dicts([{"name": "w", "cmd": "x", **options}])
    return info.value.problems


def test_values_as_a_supervisord_user_writes_them() -> None:
    (w,) = config_from_dicts([{"name": "w", "cmd": "x", "respawn": "Unexpected",
                               "exit_codes": "0, 2", "start_secs": "1",
                               "start_retries": "5", "wid_start": 0, "numprocesses": 2,
                               "process_name": "w_$(ringleader.wid:02d)",
                               "kill_children": "yes", "port_base": "5000",
                               "events": "process_state, tick_60", "buffer_size": 20}]).watchers
    assert (w.respawn, w.exit_codes, w.start_secs, w.start_retries) == ("unexpected", [0, 2],
                                                                        1.0, 5)
    assert (w.wid_start, w.kill_children, w.port_base, w.buffer_size) == (0, True, 5000, 20)
    assert w.events == ["PROCESS_STATE", "TICK_60"]


@pytest.mark.parametrize(("options", "expected"), [
    ({"respawn": "sometimes"}, 'respawn: expected true, false or "unexpected"'),
    ({"exit_codes": [0, 256]}, "exit_codes: expected exit codes 0-255"),
    ({"exit_codes": []}, "exit_codes: expected exit codes 0-255"),
    ({"port_base": 0}, "port_base: expected an integer >= 1"),
    ({"port_base": 70000}, "port_base: expected a port number between 1 and 65535"),
    ({"events": "PROCESS_STATE, NOPE"}, "events: unknown event type NOPE"),
    ({"buffer_size": 0}, "buffer_size: expected an integer >= 1"),
    ({"numprocesses": 2, "process_name": "same"}, "process_name: \"same\" would be the "
                                                  "name of every process"),
    ({"process_name": "a:b"}, "process_name: \"a:b\": no ':'"),
    ({"numprocesses": 2, "process_name": "w_$(ringleader.wid:zz)"},
     "process_name: \"w_$(ringleader.wid:zz)\": 'zz' is no format for a number"),
    ({"process_name": "a b"}, "process_name: expected letters, digits"),
    ({"events": ["TICK_5"], "redirect_stderr": True}, "redirect_stderr: true is not "
                                                      "allowed for an event listener"),
    ({"on_demand": True}, "on_demand: true needs a socket"),
    ({"virtualenv_py_ver": "3.11"}, "virtualenv_py_ver: given without virtualenv"),
])
def test_bad_values_are_one_line_each(options: dict[str, object], expected: str) -> None:
    (line,) = problems(**options)
    assert expected in line, line


def test_supervisord_names_in_a_circus_section_say_the_native_name(write: Write) -> None:
    path = write("c.ini", "[watcher:w]\ncmd = x\nautorestart = unexpected\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (line,) = info.value.problems
    assert "autorestart is supervisord's name; here it is respawn" in line
    assert "did you mean" not in line


def test_free_form_options_in_circus_ini_a_typo_still_an_error(write: Write) -> None:
    config = load_config(write("c.ini", "[watcher:w]\ncmd = x\nteam = ops\n"))
    assert config.watchers[0].extra == {"team": "ops"}
    with pytest.raises(ConfigError) as info:
        load_config(write("d.ini", "[watcher:w]\ncmd = x\nnumprocesess = 2\n"))
    assert 'did you mean "numprocesses"' in info.value.problems[0]
    with pytest.raises(ConfigError):  # TOML stays strict: free-form options go in [extra]
        load_config(write("e.toml", '[watchers.w]\ncmd = "x"\nteam = "ops"\n'))
    toml = load_config(write("f.toml", '[watchers.w]\ncmd = "x"\n[watchers.w.extra]\n'
                             'team = "ops"\n'))
    assert toml.watchers[0].extra == {"team": "ops"}


def test_groups(write: Write) -> None:
    config = load_config(write("g.toml", '[groups.web]\nwatchers = ["a", "b"]\npriority = 5\n'
                               '[watchers.a]\ncmd = "x"\n[watchers.b]\ncmd = "y"\n'))
    (group,) = config.groups
    assert (group.name, group.watchers, group.priority) == ("web", ["a", "b"], 5)
    with pytest.raises(ConfigError) as info:
        load_config(write("h.toml", '[groups.one]\nwatchers = ["a", "zz"]\n'
                          '[groups.two]\nwatchers = ["a"]\n[watchers.a]\ncmd = "x"\n'))
    first, second = info.value.problems
    assert first.endswith('h.toml: [groups.one] watchers: unknown watcher "zz"')
    assert second.endswith('[groups.two] watchers: "a" is already in group "one" (a watcher '
                           "is in one group at most)")


def test_controller_options_of_supervisord() -> None:
    config = config_from_dicts([], {"user": "root", "minfds": 1024, "minprocs": 200,
                                    "logoutput": "syslog:///dev/log?daemon"})
    assert (config.controller.user, config.controller.minfds) == ("root", 1024)
    with pytest.raises(ConfigError) as info:
        config_from_dicts([], {"logoutput": "syslog://?nosuch"})
    assert "unknown syslog facility 'nosuch'" in info.value.problems[0]


def test_stream_options_custom_classes_and_colour_names(write: Write) -> None:
    config = load_config(write("s.ini", "[watcher:w]\ncmd = x\nstdout_stream.class = "
                               "FancyStdoutStream\nstdout_stream.color = green\n"
                               "stderr_stream.class = my.pkg.Stream\nstderr_stream.level = 3\n"))
    out, err = config.watchers[0].stdout_stream, config.watchers[0].stderr_stream
    assert (out.kind, out.color) == ("console", "green")
    assert (err.kind, err.class_path, err.options) == ("custom", "my.pkg.Stream",
                                                       {"level": "3"})
    assert not config.warnings  # a custom class's options are its own, no warning


def test_sock_dgram_and_a_bad_type(write: Write) -> None:
    config = load_config(write("u.ini", "[socket:u]\nport = 1\ntype = SOCK_DGRAM\n"))
    assert config.sockets[0].type == "dgram"
    with pytest.raises(ConfigError) as info:
        load_config(write("v.ini", "[socket:u]\nport = 1\ntype = SOCK_RAW\n"))
    assert "type: expected stream or dgram" in info.value.problems[0]


def test_httpd_close_outputs_is_accepted_as_circus_documents_it() -> None:
    config = config_from_dicts([], {"httpd_close_outputs": "true"})
    assert any("httpd_close_outputs" in w for w in config.warnings)
