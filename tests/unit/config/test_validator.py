"""The one validator: what it accepts, the spawn, the OS and the state file's encoder take.
Every way in (a file, dicts, `set`, a WatcherConfig built by hand) goes through it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ringleader.config import options
from ringleader.config.load import as_watcher_configs, config_from_dicts, load_config
from ringleader.config.model import WatcherConfig
from ringleader.config.runnable import check_runnable, process_total
from ringleader.config.values import (
    ID_MAX,
    INT64_MAX,
    BadValue,
    nul_in,
    to_command,
    to_float,
    to_int,
    to_rlimit,
    to_uid,
)
from ringleader.errors import ConfigError
from ringleader.proc.spawn import build_template
from ringleader.testing import make_test_pki

Write = Callable[[str, str], Path]


def _refused(changes: dict[str, Any]) -> str:
    base = WatcherConfig(name="w", cmd="sleep 1")
    with pytest.raises(ConfigError) as info:
        options.apply(base, changes, where="watcher w")
    (line,) = info.value.problems
    return line


@pytest.mark.parametrize(("changes", "message"), [
    ({"cmd": 'sleep "600'}, "watcher w cmd: cannot be split into arguments: No closing "
                            "quotation (expected a command line in shell syntax"),
    ({"cmd": "   "}, "watcher w cmd: expected a command line, at least the program"),
    ({"uid": 1 << 32}, f"watcher w uid: expected an existing user name or a uid between 0 "
                       f"and {ID_MAX}, got 4294967296"),
    ({"gid": "100000000000000000000"}, "watcher w gid: expected an existing group name or "
                                      "a gid between 0 and"),
    ({"env": {"A": "x\0y"}}, "watcher w env.A: contains a NUL character"),
    ({"env": {"A\0": "x"}}, "watcher w env.A\0: contains a NUL character"),
    ({"cmd": "sleep 1\0"}, "watcher w cmd: contains a NUL character"),
    ({"args": ["a", "b\0"]}, "watcher w args[1]: contains a NUL character"),
    ({"stdout_stream.filename": "/tmp/a\0b"}, "watcher w stdout_stream.filename: contains"),
    ({"graceful_timeout": "inf"}, "watcher w graceful_timeout: expected a finite number "
                                  "between 0 and 3.1536e+07"),
    ({"warmup_delay": 1e300}, "watcher w warmup_delay: expected a finite number"),
    ({"backoff": {"max": float("inf")}}, "watcher w backoff.max: expected a finite number"),
    ({"priority": 10 ** 30}, "watcher w priority: expected an integer between -2147483648 "
                             "and 2147483647"),
    ({"numprocesses": 10 ** 30}, "watcher w numprocesses: expected an integer between 0 and "
                                 "1000000"),
    ({"rlimit_nofile": 10 ** 30}, f"watcher w rlimit_nofile: expected an integer between 0 "
                                  f'and {INT64_MAX}, or "unlimited"'),
])
def test_set_refuses_what_cannot_run(changes: dict[str, Any], message: str) -> None:
    assert _refused(changes).startswith(message)


def test_a_shell_command_need_not_split() -> None:
    cfg = options.apply(WatcherConfig(name="w", cmd="x"), {"cmd": 'echo "a', "shell": True},
                        where="watcher w")
    assert build_template(cfg).argv == ("/bin/sh", "-c", 'echo "a')


@pytest.mark.parametrize("name", [".", "..", "web\n", "a" * 129])
def test_names_that_are_no_path_component_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"name: expected 1 to 128 letters"):
        config_from_dicts([{"name": name, "cmd": "sleep 1"}])


def test_a_watcher_built_by_hand_is_validated_too() -> None:
    bad = WatcherConfig(name="..", cmd='sleep "1')  # a Struct skips its own constraints
    with pytest.raises(ConfigError) as info:
        as_watcher_configs([bad])
    assert [p.split(":")[0] for p in info.value.problems] == ["watcher .. name",
                                                              "watcher .. cmd"]
    good = WatcherConfig(name="ok", cmd="sleep 1", hooks={}, env={"A": "1"})
    assert as_watcher_configs([good]) == [good]


def test_every_string_of_the_controller_and_sockets_is_nul_free(write: Write) -> None:
    path = write("r.toml", '[ringleader]\npidfile = "/run/x\\u0000"\n'
                           '[sockets.s]\nhost = "127.0.0.1\\u0000"\nport = 1\n'
                           '[watchers.w]\ncmd = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [p.split(": ", 2)[1:] for p in info.value.problems] == [
        ["[ringleader] pidfile", "contains a NUL character (expected text without NUL)"],
        ["[sockets.s] host", "contains a NUL character (expected text without NUL)"]]


def test_pure_pieces() -> None:
    assert nul_in({"a": ["x", {"b": "y\0"}]}) == "a[1].b"
    assert nul_in({"a": 1, "b": ["c"]}) is None
    assert to_command(" python  -m x ") == " python  -m x "
    with pytest.raises(BadValue):
        to_int(INT64_MAX + 1)
    with pytest.raises(BadValue):
        to_int(-INT64_MAX - 2)
    assert to_int(-5) == -5
    for bad in ("nan", "inf", "-inf", 1e18):
        with pytest.raises(BadValue):
            to_float(bad)
    assert to_rlimit("unlimited") == -1 and to_rlimit(INT64_MAX) == INT64_MAX
    assert to_uid(ID_MAX) == ID_MAX
    with pytest.raises(BadValue):
        to_uid(ID_MAX + 1)


def test_validated_values_encode_in_the_state_file() -> None:
    cfg = options.apply(WatcherConfig(name="w", cmd="x"),
                        {"priority": -(1 << 31), "rlimit_nofile": INT64_MAX,
                         "numprocesses": 1_000_000, "graceful_timeout": 365 * 24 * 3600},
                        where="watcher w")
    assert msgspec.json.decode(msgspec.json.encode(options.dump(cfg)))["priority"] == -(1 << 31)


def test_check_runnable_max_processes_and_tls(tmp_path: Path, write: Write) -> None:
    pki = make_test_pki(str(tmp_path), clients=("other",))

    def config(tcp: str, n: int = 1) -> Path:
        return write("r.toml", f'[ringleader]\nmax_processes = 3\n{tcp}'
                               f'[watchers.w]\ncmd = "x"\nnumprocesses = {n}\n')

    def tcp(cert: str, key: str) -> str:
        return (f'[ringleader.tcp]\nlisten = "127.0.0.1:0"\ntls_cert = "{cert}"\n'
                f'tls_key = "{key}"\n[[ringleader.tokens]]\nname = "a"\nrole = "read"\n'
                f'hash = "sha256:{"0" * 64}"\n')

    assert check_runnable(load_config(config(tcp(pki["server_cert"], pki["server_key"])))) \
        == []
    (line,) = check_runnable(load_config(config("", n=4)))
    assert line.endswith("[ringleader] max_processes: the watchers ask for 4 processes, more "
                         "than max_processes = 3")
    missing = str(tmp_path / "missing.pem")
    (line,) = check_runnable(load_config(config(tcp(missing, pki["server_key"]))))
    assert line.endswith(f"[ringleader.tcp] tls_cert {missing}: no such file")
    (line,) = check_runnable(load_config(config(tcp(pki["server_cert"], pki["other_key"]))))
    assert line.endswith(f"[ringleader.tcp] tls_key {pki['other_key']}: does not match the "
                         f"certificate tls_cert {pki['server_cert']}")
    assert process_total([WatcherConfig(name="a", cmd="x", numprocesses=5, singleton=True),
                          WatcherConfig(name="b", cmd="x", numprocesses=2)]) == 3


def test_token_and_socket_names_with_a_final_newline_are_refused(write: Write) -> None:
    path = write("r.toml", '[ringleader.tcp]\nlisten = "127.0.0.1:1"\ntls_cert = "c"\n'
                           'tls_key = "k"\n[[ringleader.tokens]]\nname = "ci\\n"\n'
                           f'role = "read"\nhash = "sha256:{"0" * 64}"\n'
                           '[sockets."web\\n"]\nport = 1\n[watchers.w]\ncmd = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [p.split(": ", 2)[1] for p in info.value.problems] == [
        "[ringleader] tokens[0].name", '[sockets.web\n] name']
