"""Issue 8 items 5, 6 and 7: one validator for every way in.

What `check` accepts, `run` must start; what the API's `add`/`set` accept, the engine must
run; a change that fails validation is refused with 422 (`config_invalid`) and changes
nothing; `reloadconfig` is all or nothing. The rules: `cmd` splits with shlex, uid/gid in
range, no NUL in any string, durations finite and bounded, priorities and rlimits in
range, watcher names not `.`/`..`, TLS files that exist, are readable and match,
`max_processes` respected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringleader.testing import make_test_pki

from .conftest import (
    DEADLINE,
    Controller,
    StartController,
    cli,
    one_error_line,
    request,
    toml_str,
    write_config,
)

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""

W = '[watchers.w]\ncmd = "sleep 600"\n'


# -- item 6: check accepts what run crashes on ------------------------------------------------

def _tls(tmp: Path, *, missing: bool = False, mismatch: bool = False) -> str:
    pki = make_test_pki(str(tmp), clients=("other",))
    cert = str(tmp / "missing.pem") if missing else pki["server_cert"]
    key = pki["other_key"] if mismatch else pki["server_key"]
    return (f'[ringleader.tcp]\nlisten = "127.0.0.1:0"\ntls_cert = {toml_str(cert)}\n'
            f'tls_key = {toml_str(key)}\n[[ringleader.tokens]]\nname = "ci"\nrole = "read"\n'
            f'hash = "sha256:{"0" * 64}"\n')


CHECK_CASES = [
    pytest.param(lambda tmp: '[watchers.w]\ncmd = "sleep \\"600"\n', "cmd",
                 id="cmd_unclosed_quote"),
    pytest.param(lambda tmp: '[watchers.w]\ncmd = "sleep 600"\nuid = 4294967296\n', "uid",
                 id="uid_out_of_range"),
    pytest.param(lambda tmp: '[watchers.w]\ncmd = "sleep 600"\ngid = 100000000000000000000\n',
                 "gid", id="gid_out_of_range"),
    pytest.param(lambda tmp: '[ringleader]\nmax_processes = 2\n[watchers.w]\n'
                 'cmd = "sleep 600"\nnumprocesses = 5\n', "max_processes",
                 id="over_max_processes"),
    pytest.param(lambda tmp: W + "max_age = 1e-300\n", "max_age", id="max_age_floor"),
    pytest.param(lambda tmp: W + "[watchers.w.autoscale]\nmax = 2\n"
                 "interval = 1e-300\n", "autoscale.interval", id="autoscale_interval_floor"),
    pytest.param(lambda tmp: W + "[watchers.w.watchdog]\nmax_cpu = 50\n"
                 "interval = 0.01\n", "watchdog.interval", id="watchdog_interval_floor"),
    pytest.param(lambda tmp: W + '[watchers.w.health]\nkind = "tcp"\n'
                 "port = 80\ninterval = 0.05\n", "health.interval",
                 id="health_interval_floor"),
    pytest.param(lambda tmp: "[ringleader]\n" + _tls(tmp, missing=True) + SLEEPER,
                 "missing.pem", id="tls_cert_missing"),
    pytest.param(lambda tmp: "[ringleader]\n" + _tls(tmp, mismatch=True) + SLEEPER,
                 "tls_key", id="tls_key_does_not_match"),
]


@pytest.mark.parametrize(("text", "names"), CHECK_CASES)
def test_check_refuses_what_run_cannot_start(text: Any, names: str, tmp_path: Path) -> None:
    """`check` exits 2 with one line per problem, naming the field (or file)."""
    config = write_config(tmp_path, text(tmp_path))
    done = cli("check", str(config))
    assert done.returncode == 2, f"check accepted it:\n{done.stderr}"
    one_error_line(done.stderr)
    assert names in done.stderr


RUN_CASES = [p for p in CHECK_CASES if p.id in ("cmd_unclosed_quote", "uid_out_of_range",
                                                   "gid_out_of_range")]


@pytest.mark.parametrize(("text", "names"), [
    pytest.param(*p.values, id=p.id) for p in RUN_CASES])
def test_run_refuses_an_unstartable_config_in_one_line(
        text: Any, names: str, tmp_path: Path) -> None:
    """`run` of a config that passes today's `check` but cannot start: exit 2, one line
    naming the field, never a traceback."""
    config = write_config(tmp_path, text(tmp_path))
    done = cli("run", str(config), timeout=DEADLINE)
    one_error_line(done.stderr)
    assert done.returncode == 2, done.stderr
    assert names in done.stderr


# -- items 5 and 6 through the API -------------------------------------------------------------

@pytest.fixture
def ctl(tmp_path: Path, start_controller: StartController) -> Controller:
    statefile = tmp_path / "ringleader.state"
    config = write_config(tmp_path, f"[ringleader]\nstatefile = {toml_str(str(statefile))}\n"
                          + SLEEPER)
    controller = start_controller(config)
    controller.wait_active()
    return controller


ADD_CASES = [
    pytest.param({"cmd": 'sleep "600'}, id="cmd_unclosed_quote"),
    pytest.param({"cmd": "sleep 600", "options": {"uid": 4294967296}}, id="uid_out_of_range"),
    pytest.param({"cmd": "sleep 600", "options": {"gid": 10 ** 20}}, id="gid_out_of_range"),
    pytest.param({"cmd": "sleep 600\u0000"}, id="nul_in_cmd"),
    pytest.param({"cmd": "sleep 600", "name": ".."}, id="name_dotdot"),
]


@pytest.mark.parametrize("extra", ADD_CASES)
def test_add_of_invalid_watcher_is_refused_and_changes_nothing(
        extra: dict[str, Any], ctl: Controller) -> None:
    """422 config_invalid (400 bad_request for a name the schema refuses), the watcher is
    not added, and it is not started in the background either."""
    body = {"name": "bad", "start": False, **extra}
    answer = ctl.raw(request("POST", "/v1/watchers", json.dumps(body).encode()))
    assert answer.status in (400, 422), (answer.status, answer.body)
    assert answer.error in ("config_invalid", "bad_request")
    assert set(ctl.watchers()) == {"sleeper"}


SET_CASES = [
    pytest.param("cmd", 'sleep "600', id="cmd_unclosed_quote"),
    pytest.param("uid", 4294967296, id="uid_out_of_range"),
    pytest.param("env", {"A": "x\u0000y"}, id="nul_in_env"),
    pytest.param("graceful_timeout", "inf", id="infinite_duration"),
    pytest.param("warmup_delay", 1e300, id="unbounded_duration"),
    pytest.param("priority", 10 ** 30, id="priority_out_of_range"),
    pytest.param("rlimit_nofile", 10 ** 30, id="rlimit_out_of_range"),
    pytest.param("max_age", 1e-300, id="max_age_under_its_floor"),
    pytest.param("autoscale", {"max": 2, "interval": 0.001}, id="autoscale_interval_floor"),
]


@pytest.mark.parametrize(("key", "value"), SET_CASES)
def test_set_of_invalid_value_is_refused_with_422_and_changes_nothing(
        key: str, value: Any, ctl: Controller) -> None:
    before = ctl.call("options", name="sleeper")["options"]
    pids = ctl.worker_pids()
    answer = ctl.raw(request("PATCH", "/v1/watchers/sleeper/options",
                             json.dumps({"options": {key: value}}).encode()))
    assert answer.status == 422, (answer.status, answer.body)
    assert answer.error == "config_invalid"
    assert ctl.call("options", name="sleeper")["options"] == before
    assert ctl.worker_pids() == pids, "the processes were replaced"


def test_refused_runtime_change_is_not_saved_and_the_next_start_works(
        tmp_path: Path, ctl: Controller, start_controller: StartController) -> None:
    """The issue's sequence through the console: `set` of a bad cmd, a valid change that
    saves the state, `quit`, start again: the controller starts with the old cmd."""
    bad = ctl.cli("set", "sleeper", "cmd", '"x')
    assert bad.returncode == 1  # refused (today: an internal error, yet applied)
    assert ctl.cli("incr", "sleeper").returncode == 0
    assert ctl.cli("quit").returncode == 0
    assert ctl.proc.wait(DEADLINE) == 0
    again = start_controller(tmp_path / "ringleader.toml")
    again.wait_active()
    assert again.call("options", name="sleeper")["options"]["cmd"] == "sleep 600"
    assert "Traceback" not in again.log_text()


# -- item 7: reloadconfig is all or nothing -----------------------------------------------------

def test_reloadconfig_of_invalid_file_is_refused_and_changes_nothing(
        tmp_path: Path, start_controller: StartController) -> None:
    """The new file removes `old`, adds `new` and gives `sleeper` a cmd shlex cannot split:
    422 config_invalid naming the field, and everything stays as it was (same watchers,
    same options, same pids)."""
    config = write_config(tmp_path, SLEEPER + '[watchers.old]\ncmd = "sleep 601"\n')
    ctl = start_controller(config)
    ctl.wait_active()
    before = {name: (w["numprocesses"], [p["pid"] for p in w["processes"]])
              for name, w in ctl.watchers().items()}
    config.write_text('[watchers.sleeper]\ncmd = "sleep \\"600"\n'
                      '[watchers.new]\ncmd = "sleep 602"\n')
    answer = ctl.raw(request("POST", "/v1/reloadconfig", b""))
    assert answer.status == 422, (answer.status, answer.body)
    assert answer.error == "config_invalid"
    assert "cmd" in answer.json()["detail"]
    after = {name: (w["numprocesses"], [p["pid"] for p in w["processes"]])
             for name, w in ctl.watchers().items()}
    assert after == before
    assert ctl.call("options", name="sleeper")["options"]["cmd"] == "sleep 600"
