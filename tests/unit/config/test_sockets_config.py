"""Sockets: TOML [sockets.NAME], circus [socket:NAME] and dicts; their references and
address clashes."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.config.features import SocketConfig
from ringleader.config.load import config_from_dicts, load_config
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_toml_sockets(write: Write) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    path = write("conf/r.toml", f"""
[sockets.web]
host = "::1"
family = "inet6"
port = 8080
backlog = 100
so_reuseport = true
[sockets.ctl]
path = "run/ctl.sock"
mode = "660"
owner = "{me}"
group = "{group}"
[sockets.abs]
family = "unix"
path = "/tmp/abs.sock"
mode = 0o600
owner = 0
group = 0
[sockets.any]
""")
    web, ctl, abs_, any_ = load_config(path).sockets
    assert web == SocketConfig(name="web", family="inet6", host="::1", port=8080, backlog=100,
                               so_reuseport=True)
    assert ctl == SocketConfig(name="ctl", family="unix", path=str(path.parent / "run/ctl.sock"),
                               mode=0o660, owner=os.getuid(), group=os.getgid())
    assert (abs_.path, abs_.mode, abs_.owner, abs_.group) == ("/tmp/abs.sock", 0o600, 0, 0)
    assert any_ == SocketConfig(name="any")  # port 0: any free port


def test_circus_socket_sections(write: Write) -> None:
    path = write("r.ini", "[socket:Web]\nhost = localhost\nfamily = AF_INET\nbacklog = 10\n"
                 "so_reuseport = True\n[socket:unix]\npath = /tmp/u.sock\numask = 002\n"
                 "[socket:six]\nfamily = af_inet6\nhost = ::\nport = 9000\n"
                 "[socket:empty]\n[watcher:a]\ncmd = x\nuse_sockets = true\nsockets = WEB six\n")
    config = load_config(path)
    web, unix, six = config.sockets  # the empty section is skipped, as circus does
    assert web == SocketConfig(name="web", host="localhost", port=8080, backlog=10,
                               so_reuseport=True)  # circus: names lowercased, port 8080
    assert unix == SocketConfig(name="unix", family="unix", path="/tmp/u.sock", mode=0o775)
    assert (six.family, six.host, six.port) == ("inet6", "::", 9000)
    assert config.watchers[0].sockets == ["web", "six"]
    assert config.warnings == []


def test_circus_options_without_an_equivalent_warn_only_when_they_matter(write: Write) -> None:
    path = write("r.ini", "[socket:a]\nport = 1\ntype = SOCK_STREAM\nproto = tcp\n"
                 "replace = false\nblocking = false\n"
                 "[socket:b]\nport = 2\ntype = SOCK_DGRAM\nreplace = true\nblocking = yes\n"
                 "interface = eth0\nproto = udp\n")
    config = load_config(path)
    assert config.warnings == [
        f"{path}: [socket:b] options not supported, ignored: replace = true, "
        "blocking = yes, interface = eth0"]
    assert [s.type for s in config.sockets] == ["stream", "dgram"]  # SOCK_DGRAM: UDP


def test_toml_and_ini_sockets_are_the_same(write: Write) -> None:
    toml = load_config(write("a/r.toml", '[sockets.s]\nport = 80\nhost = "0.0.0.0"\n'
                             '[sockets.u]\npath = "u.sock"\nmode = "0640"\n'))
    ini = load_config(write("a/r.ini", "[socket:s]\nport = 80\nhost = 0.0.0.0\n"
                            "[socket:u]\npath = u.sock\numask = 137\n"))
    assert toml.sockets == ini.sockets


@pytest.mark.parametrize(("text", "expected"), [
    ('family = "tcp"', 'family: expected inet, inet6 or unix (or circus\'s AF_INET, AF_INET6, '
                       'AF_UNIX), got "tcp"'),
    ("port = 70000", "port: expected a port number between 0 and 65535 (0: any free port), "
                     "got 70000"),
    ('port = "http"', 'port: expected an integer >= 0, got "http"'),
    ("backlog = 0", "backlog: expected an integer >= 1, got 0"),
    ('family = "unix"', "path: missing (a unix socket needs the path of its socket file)"),
    ('path = "/x"\nfamily = "inet"',
     "path: only for unix sockets (family is inet; expected no path, or family = unix)"),
    ('mode = "0660"', "mode: only for unix sockets (family is inet)"),
    ('path = "/x"\nmode = "999"', 'mode: expected an octal mode between "000" and "777", such '
                                  'as "0660", got "999"'),
    ('path = "/x"\nmode = "0660"\numask = "002"', "umask: given with mode (expected one of "
                                                  "them)"),
    ('path = "/x"\nowner = "no-such-user-xyz"', 'owner: unknown user "no-such-user-xyz"'),
    ('path = "/x"\ngroup = "no-such-grp-xyz"', 'group: unknown group "no-such-grp-xyz"'),
    ('hots = "x"', 'hots: unknown option (did you mean "host"?)'),
])
def test_bad_socket_options(write: Write, text: str, expected: str) -> None:
    path = write("r.toml", f"[sockets.s]\n{text}\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: [sockets.s] {expected}"), line


def test_socket_must_be_a_table(write: Write) -> None:
    path = write("r.toml", '[sockets]\ns = "127.0.0.1:80"\n')
    assert problems(path) == [f'{path}: [sockets.s]: expected a table of options, got '
                              '"127.0.0.1:80"']


def test_duplicate_socket_names_across_files(write: Write) -> None:
    write("inc/b.ini", "[socket:web]\nport = 2\n")
    path = write("main.ini", "[circus]\ninclude = inc/b.ini\n[socket:WEB]\nport = 1\n")
    (line,) = problems(path)
    assert 'duplicate socket "web" (already defined in' in line


# -- references -----------------------------------------------------------------------------

def test_unknown_socket_names(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nsockets = ["wbe", "zzz"]\n'
                 "[sockets.web]\nport = 1\n")
    assert problems(path) == [
        f'{path}: [watchers.a] sockets: unknown socket "wbe" (did you mean "web"?)',
        f'{path}: [watchers.a] sockets: unknown socket "zzz"',
    ]
    path = write("r2.toml", '[watchers.a]\ncmd = "x"\nsockets = ["web"]\n')
    assert problems(path) == [
        f'{path}: [watchers.a] sockets: unknown socket "web" (no socket is defined)']


def test_sockets_imply_use_sockets_but_not_against_an_explicit_false(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nsockets = ["s"]\n[sockets.s]\n')
    assert load_config(path).watchers[0].use_sockets
    path = write("r2.toml", '[watchers.a]\ncmd = "x"\nsockets = ["s"]\nuse_sockets = false\n'
                 "[sockets.s]\n")
    assert problems(path) == [f"{path}: [watchers.a] sockets: given with use_sockets = false "
                              "(expected use_sockets = true, or no sockets)"]


# -- address clashes --------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "shown"), [
    ("port = 80", "port = 80", "127.0.0.1:80"),
    ('host = "localhost"\nport = 80', 'host = "127.0.0.1"\nport = 80', "127.0.0.1:80"),
    ('host = "0.0.0.0"\nport = 80', 'host = "10.0.0.1"\nport = 80', "10.0.0.1:80"),
    ('family = "inet6"\nhost = "::"\nport = 80', 'family = "inet6"\nhost = "::1"\nport = 80',
     "[::1]:80"),
    ('path = "/tmp/x.sock"', 'path = "/tmp//x.sock"', "/tmp/x.sock"),
])
def test_two_sockets_on_one_address(write: Write, a: str, b: str, shown: str) -> None:
    path = write("r.toml", f"[sockets.a]\n{a}\n[sockets.b]\n{b}\n")
    field = "path" if "path" in a else "port"
    assert problems(path) == [
        f"{path}: [sockets.b] {field}: same address as [sockets.a] ({shown}) (expected another "
        "address, or so_reuseport = true on both)"]


@pytest.mark.parametrize(("a", "b"), [
    ("port = 80", "port = 81"),
    ("port = 0", "port = 0"),
    ('host = "127.0.0.1"\nport = 80', 'host = "127.0.0.2"\nport = 80'),
    ("port = 80", 'family = "inet6"\nhost = "::1"\nport = 80'),
    ("port = 80\nso_reuseport = true", "port = 80\nso_reuseport = true"),
])
def test_sockets_that_do_not_clash(write: Write, a: str, b: str) -> None:
    config = load_config(write("r.toml", f"[sockets.a]\n{a}\n[sockets.b]\n{b}\n"))
    assert len(config.sockets) == 2 and config.warnings == []


def test_so_reuseport_on_one_side_only_warns(write: Write) -> None:
    # circus's own reuseport.ini does this: it must load
    path = write("r.ini", "[socket:a]\nport = 8888\nso_reuseport = True\n"
                 "[socket:b]\nport = 8888\n")
    assert load_config(path).warnings == [
        f"{path}: [socket:b] port: same address as [socket:a] (127.0.0.1:8888): binding fails "
        "unless both set so_reuseport"]


def test_dict_sockets() -> None:
    config = config_from_dicts([{"name": "w", "cmd": "x", "sockets": ["s", "t"]}],
                               sockets=[{"name": "s", "port": 81},
                                        SocketConfig(name="t", path="/tmp/t.sock",
                                                     family="unix")])
    assert [s.name for s in config.sockets] == ["s", "t"]
    assert config.sockets[1].path == "/tmp/t.sock"
    with pytest.raises(ConfigError) as info:
        config_from_dicts([], sockets=[{"port": 1}, "x"])
    assert info.value.problems == ["socket[0] name: expected the socket's name, got None",
                                   'socket[1]: expected a dict of socket options, got "x"']
    config = config_from_dicts([{"name": "w", "cmd": "x", "sockets": ["s"]}],
                               known_sockets=("s",))
    assert config.watchers[0].sockets == ["s"]
