"""The control API options of [ringleader]: unix socket peers, the TLS TCP listener, tokens,
client certificates and limits; every mistake refused at load with file, section and field."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from ringleader.api.auth import hash_token
from ringleader.config.load import config_from_dicts, load_config
from ringleader.config.model import ControllerConfig, TcpConfig, TokenConfig
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]
HASH = hash_token("s3cret")
TCP = '[ringleader.tcp]\nlisten = "127.0.0.1:5555"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n'
TOKEN = f'[[ringleader.tokens]]\nname = "ci"\nrole = "operate"\nhash = "{HASH}"\n'


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_existing_configs_load_with_the_defaults(write: Write) -> None:
    ctrl = load_config(write("r.toml", '[ringleader]\nendpoint = "unix:r.sock"\n')).controller
    assert ctrl.tcp is None and ctrl.tokens == [] and ctrl.client_certs == []
    assert ctrl.allowed_uids == [] and ctrl.allowed_groups == [] and ctrl.unix_role == "admin"
    assert ctrl.audit_log is None
    assert (ctrl.max_body_bytes, ctrl.max_connections) == (1 << 20, 256)


def test_full_api_section_with_paths_relative_to_the_file(write: Write) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    path = write("conf/r.toml", f"""
[ringleader]
allowed_uids = ["{me}", 4242]
allowed_groups = ["{group}"]
unix_role = "operate"
audit_log = "logs/audit.log"
max_body_bytes = 2048
max_connections = 8
[ringleader.tcp]
listen = "[::1]:5555"
tls_cert = "tls/cert.pem"
tls_key = "/etc/key.pem"
client_ca = "tls/ca.pem"
[[ringleader.tokens]]
name = "ci"
role = "read"
hash = "{HASH}"
[[ringleader.client_certs]]
cn = "alice"
role = "admin"
""")
    ctrl = load_config(path).controller
    base = path.parent
    assert ctrl.allowed_uids == [os.getuid(), 4242]
    assert ctrl.allowed_groups == [os.getgid()]
    assert ctrl.unix_role == "operate"
    assert ctrl.audit_log == str(base / "logs/audit.log")
    assert (ctrl.max_body_bytes, ctrl.max_connections) == (2048, 8)
    assert ctrl.tcp == TcpConfig(listen="[::1]:5555", tls_cert=str(base / "tls/cert.pem"),
                                 tls_key="/etc/key.pem", client_ca=str(base / "tls/ca.pem"))
    assert ctrl.tokens == [TokenConfig(name="ci", role="read", hash=HASH)]
    assert [(c.cn, c.role) for c in ctrl.client_certs] == [("alice", "admin")]


def test_client_ca_alone_is_enough_for_tcp(write: Write) -> None:
    tcp = TCP + 'client_ca = "ca.pem"\nclient_cert_required = true\n'
    ctrl = load_config(write("r.toml", tcp)).controller
    assert ctrl.tcp is not None and ctrl.tcp.client_cert_required


@pytest.mark.parametrize(("text", "expected"), [
    (TCP, "[ringleader] tcp: a TCP listener needs TLS and a token or a client certificate "
          "(expected [[ringleader.tokens]] or tcp.client_ca)"),
    ('[ringleader.tcp]\nlisten = "127.0.0.1:5555"\ntls_key = "k.pem"\n' + TOKEN,
     "[ringleader] tcp.tls_cert: missing (a TCP listener needs TLS and a token or a client "
     "certificate: expected the PEM certificate file)"),
    (TCP.replace("127.0.0.1:5555", "localhost") + TOKEN,
     '[ringleader] tcp.listen: expected HOST:PORT such as "127.0.0.1:5555" or "[::1]:5555", '
     'got "localhost"'),
    (TCP.replace("127.0.0.1:5555", "::1:5555") + TOKEN, "[ringleader] tcp.listen: expected "),
    (TCP.replace("127.0.0.1:5555", "127.0.0.1:99999") + TOKEN,
     "[ringleader] tcp.listen: expected "),
    (TCP + "tls = true\n" + TOKEN, "[ringleader] tcp.tls: unknown option"),
    (TCP + "client_cert_required = true\n" + TOKEN,
     "[ringleader] tcp.client_cert_required: needs tcp.client_ca"),
    (TCP + '[[ringleader.tokens]]\nname = "ci"\nrole = "admin"\ntoken = "s3cret"\n',
     "[ringleader] tokens[0].token: a plain token is never stored in the config: store hash "
     "= the output of `ringleader token hash` instead"),
    (TCP + TOKEN.replace('"operate"', '"root"'),
     '[ringleader] tokens[0].role: expected read, operate or admin, got "root"'),
    (TCP + TOKEN.replace(HASH, "md5:abc"),
     '[ringleader] tokens[0].hash: expected sha256:<64 hex digits>, the output of '
     '`ringleader token hash`, got "md5:abc"'),
    (TCP + TOKEN.replace(HASH, HASH.upper().replace("SHA256", "sha256")),
     "[ringleader] tokens[0].hash: expected sha256:<64 hex digits>"),
    (TCP + '[[ringleader.tokens]]\nname = "ci"\nhash = "' + HASH + '"\n',
     "[ringleader] tokens[0].role: missing (expected read, operate or admin)"),
    (TCP + TOKEN + TOKEN, '[ringleader] tokens: duplicate name "ci"'),
    ('[ringleader]\ntokens = "s3cret"\n',
     '[ringleader] tokens: expected [[ringleader.tokens]] tables, got "s3cret"'),
    ('[[ringleader.client_certs]]\ncn = "alice"\nrole = "read"\n',
     "[ringleader] client_certs: needs tcp.client_ca to verify the certificates"),
    (TCP + 'client_ca = "ca.pem"\n[[ringleader.client_certs]]\ncn = "alice"\nrole = "sudo"\n',
     '[ringleader] client_certs[0].role: expected read, operate or admin, got "sudo"'),
    ('[ringleader]\nunix_role = "god"\n',
     '[ringleader] unix_role: expected read, operate or admin, got "god"'),
    ('[ringleader]\nallowed_uids = ["no-such-user-xyz"]\n',
     '[ringleader] allowed_uids: unknown user "no-such-user-xyz"'),
    ('[ringleader]\nallowed_groups = 5\n',
     "[ringleader] allowed_groups: expected a list of group names or gids, got 5"),
    ('[ringleader]\nmax_body_bytes = 0\n',
     "[ringleader] max_body_bytes: expected an integer >= 1, got 0"),
    ('[ringleader]\nmax_connections = "many"\n',
     '[ringleader] max_connections: expected an integer >= 1, got "many"'),
    ('[ringleader]\naudit_log = 1\n', "[ringleader] audit_log: expected a string, got 1"),
    (TCP + 'dashboard_hosts = "ctl"\n' + TOKEN, '[ringleader] tcp.dashboard_hosts: expected a '
     'list of host names, such as ["ctl.example.org"], got "ctl"'),
    (TCP + 'dashboard_hosts = ["ctl.example.org:443"]\n' + TOKEN, "[ringleader] "
     "tcp.dashboard_hosts: expected host names or IP addresses without a port, such as "
     "\"ctl.example.org\" or \"127.0.0.1\", got ['ctl.example.org:443']"),
    (TCP + 'dashboard_hosts = ["bad host!"]\n' + TOKEN,
     "[ringleader] tcp.dashboard_hosts: expected host names or IP addresses without a port"),
    ('[ringleader.dashboard]\nidle_timeout = 0\n',
     "[ringleader] dashboard.idle_timeout: expected a number >= 1, got 0"),
    ('[ringleader.dashboard]\nsession_lifetime = "long"\n',
     '[ringleader] dashboard.session_lifetime: expected a number >= 1, got "long"'),
    ('[ringleader.dashboard]\ntimeout = 5\n', '[ringleader] dashboard.timeout: unknown option '
     '(did you mean "dashboard.idle_timeout"?)'),
    ('[ringleader]\ntcp = "127.0.0.1:5555"\n',
     '[ringleader] tcp: expected a table, got "127.0.0.1:5555"'),
])
def test_every_bad_api_option_is_one_clear_line(write: Write, text: str, expected: str) -> None:
    path = write("r.toml", text)
    (line,) = problems(path)
    assert line.startswith(f"{path}: {expected}"), line


def test_tcp_endpoint_points_to_the_tcp_section(write: Write) -> None:
    path = write("r.toml", '[ringleader]\nendpoint = "tcp://127.0.0.1:5555"\n')
    (line,) = problems(path)
    assert "[ringleader.tcp]" in line


def test_ini_lists_of_users(write: Write) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    path = write("r.ini", f"[circus]\nallowed_uids = {me}, 4242\n[watcher:w]\ncmd = x\n")
    assert load_config(path).controller.allowed_uids == [os.getuid(), 4242]


def test_library_dicts_are_checked_the_same_way() -> None:
    with pytest.raises(ConfigError, match="a TCP listener needs TLS and a token"):
        config_from_dicts([], {"tcp": {"listen": "127.0.0.1:1", "tls_cert": "c",
                                       "tls_key": "k"}})


def test_the_model_itself_refuses_an_unauthenticated_tcp_listener() -> None:
    tcp = TcpConfig(listen="127.0.0.1:1", tls_cert="c", tls_key="k")
    with pytest.raises(ValueError, match="needs TLS and a token or a client certificate"):
        ControllerConfig(tcp=tcp)
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        TcpConfig(listen="nowhere", tls_cert="c", tls_key="k")


def test_dashboard_options(write: Write) -> None:
    ctrl = load_config(write("r.toml", '[ringleader]\nendpoint = "unix:r.sock"\n')).controller
    assert (ctrl.dashboard.session_lifetime, ctrl.dashboard.idle_timeout) == (43200, 3600)
    text = (TCP + 'dashboard_hosts = ["CTL.example.org", "10.0.0.1", "[::1]"]\n' + TOKEN +
            "[ringleader.dashboard]\nsession_lifetime = 600\nidle_timeout = 60\n")
    ctrl = load_config(write("r.toml", text)).controller
    assert ctrl.tcp is not None
    assert ctrl.tcp.dashboard_hosts == ["ctl.example.org", "10.0.0.1", "[::1]"]
    assert (ctrl.dashboard.session_lifetime, ctrl.dashboard.idle_timeout) == (600, 60)
