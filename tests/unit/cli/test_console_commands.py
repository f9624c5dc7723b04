"""Every console command, in-process, against a scripted controller on a real unix socket:
the request it makes, what it prints (human and --json) and its exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_fakehttp import FakeServer, Handler, Request, chunked, response

from ringleader.api.routes import ROUTES
from ringleader.cli.main import main

Serve = Callable[[Handler], FakeServer]

PROCS = [{"wid": 1, "pid": 101, "state": "running", "uptime": 65.0, "restarts": 0,
          "exit_code": None, "exit_signal": None},
         {"wid": 2, "pid": None, "state": "backoff", "uptime": 0.0, "restarts": 3,
          "exit_code": 1, "exit_signal": None}]
WEB = {"name": "web", "state": "active", "numprocesses": 2, "running": 1, "processes": PROCS}
STATUS = {"controller": {"pid": 42, "version": "0.1.0", "uptime": 3.0, "config": "/x.toml"},
          "watchers": [WEB, {"name": "worker-long", "state": "stopped", "numprocesses": 0,
                             "running": 0, "processes": []}]}
STATS = {"at": 1.0, "watchers": [{"name": "web", "cpu_percent": 1.5, "rss": 3 << 20,
                                  "processes": [{"wid": 1, "pid": 101, "cpu_percent": 1.5,
                                                 "rss": 3 << 20, "uss": None, "num_fds": 5,
                                                 "num_children": 0, "age": 65.0,
                                                 "restarts": 0, "exit_history": []}]}]}
LOG = {"at": 0.0, "watcher": "web", "wid": 1, "stream": "stdout", "line": "hello"}
ANSWERS: dict[str, Any] = {
    "status": STATUS, "list": {"watchers": ["web", "worker-long"]}, "add": WEB,
    "get_watcher": WEB, "rm": {"ok": True, "detail": ""}, "start": WEB, "stop": WEB,
    "restart": WEB, "reload": WEB, "start_all": STATUS, "stop_all": STATUS,
    "restart_all": STATUS, "reload_all": STATUS,
    "incr": {"name": "web", "numprocesses": 4}, "decr": {"name": "web", "numprocesses": 1},
    "numprocesses": {"name": "web", "numprocesses": 2}, "signal": {"signalled": 2},
    "options": {"name": "web", "options": {"cmd": "sleep 1", "numprocesses": 2,
                                           "env": {"A": "1"}, "respawn": True}},
    "set": {"name": "web", "options": {"cmd": "sleep 2", "numprocesses": 3,
                                       "respawn": True}},
    "stats": STATS, "logs": {"lines": [LOG, {**LOG, "stream": "stderr", "line": "oops"}]},
    "sockets": {"sockets": [{"name": "web", "address": "127.0.0.1:8080", "fd": 3}]},
    "reloadconfig": {"added": ["a"], "removed": [], "changed": ["b", "c"], "rescaled": []},
    "quit": {"ok": True, "detail": ""},
}


def route_of(req: Request) -> str:
    path = req.target.split("?", 1)[0]
    for route in ROUTES:
        pattern = route.path.split("/")
        parts = path.split("/")
        if route.method == req.method and len(pattern) == len(parts) and all(
                p == "{name}" or p == q for p, q in zip(pattern, parts, strict=True)):
            return route.op
    raise AssertionError(f"no route for {req.method} {req.target}")


def controller(req: Request) -> bytes | list[bytes]:
    op = route_of(req)
    if op in ("events", "logs_stream"):
        data = [{"topic": "process.state", "at": 0.0, "data": {"watcher": "web", "wid": 1}},
                LOG][op == "logs_stream"]
        return chunked(200, [b": hi\n\n", b"event: x\ndata: %s\n\n" % json.dumps(data).encode()],
                       content_type="text/event-stream")
    if "/nope" in req.target:
        return response(404, {"error": "not_found", "detail": "no watcher named 'nope'"})
    return response(200, ANSWERS[op])


@pytest.fixture
def ctl(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    server = serve(controller)
    monkeypatch.setenv("RINGLEADER_ENDPOINT", server.endpoint)
    monkeypatch.delenv("RINGLEADER_TOKEN", raising=False)
    return server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last(server: FakeServer) -> Request:
    return server.requests[-1]


def test_status_table(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "WATCHER      STATE    RUNNING  PIDS",
        "web          active       1/2  101",
        "worker-long  stopped      0/0  -",
    ]


def test_status_json(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert json.loads(out) == STATUS


def test_status_of_one_watcher(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "web")
    assert code == 0
    assert last(ctl).target == "/v1/watchers/web"
    assert out.splitlines()[0] == "web: active (1/2 running)"
    assert out.splitlines()[1].split() == ["WID", "PID", "STATE", "UPTIME", "RESTARTS", "LAST",
                                           "EXIT", "WHY"]
    assert out.splitlines()[3].split() == ["2", "-", "backoff", "0s", "3", "1"]


def test_list(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    # comma-separated off a terminal, as circusctl prints it
    assert run(capsys, "list") == (0, "web,worker-long\n", "")


@pytest.mark.parametrize("command", ["start", "stop", "restart", "reload"])
def test_lifecycle_of_one_and_of_all(command: str, ctl: FakeServer,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, command, "web")
    assert (code, out) == (0, "web: active (1/2 running)\n")
    assert (last(ctl).method, last(ctl).target) == ("POST", f"/v1/watchers/web/{command}")
    code, out, _ = run(capsys, command)
    assert code == 0 and out.startswith("WATCHER")
    assert (last(ctl).method, last(ctl).target) == ("POST", f"/v1/{command}")


def test_add(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "add", "web", "sleep 60", "--start", "-n", "2")
    assert (code, out) == (0, "added web: active (1/2 running)\n")
    (add,) = [r for r in ctl.requests if route_of(r) == "add"]
    assert add.json == {"name": "web", "cmd": "sleep 60", "numprocesses": 2, "start": True}
    # with --start, the events are followed from before the add, then the watcher is read
    ops = [route_of(r) for r in ctl.requests]
    assert ops.index("events") < ops.index("add") < ops.index("get_watcher")


def test_rm(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rm", "web") == (0, "removed web\n", "")
    assert (last(ctl).method, last(ctl).target) == ("DELETE", "/v1/watchers/web")


def test_incr_decr_numprocesses(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "incr", "web", "2") == (0, "4\n", "")
    assert last(ctl).json == {"count": 2}
    assert run(capsys, "decr", "web") == (0, "1\n", "")
    assert last(ctl).json == {"count": 1}
    assert run(capsys, "numprocesses", "web") == (0, "2\n", "")
    assert run(capsys, "incr", "web", "0")[0] == 2


def test_signal(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "signal", "web", "HUP", "--pid", "101", "--children") == (
        0, "signalled 2 processes\n", "")
    assert last(ctl).json == {"signal": "HUP", "pid": 101, "children": True}
    run(capsys, "signal", "web", "9", "--wid", "2")
    assert last(ctl).json == {"signal": 9, "wid": 2, "children": False}


def test_set_sends_strings_and_prints_what_changed(ctl: FakeServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "set", "web", "cmd", "sleep 2", "numprocesses", "3")
    assert code == 0
    assert (last(ctl).method, last(ctl).target) == ("PATCH", "/v1/watchers/web/options")
    assert last(ctl).json == {"options": {"cmd": "sleep 2", "numprocesses": "3"}}
    assert out.splitlines() == ["OPTION        VALUE", "cmd           sleep 2",
                                "numprocesses  3"]
    assert run(capsys, "set", "web", "cmd")[0] == 2


def test_get_and_options(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "web", "cmd") == (0, "sleep 1\n", "")
    assert last(ctl).target == "/v1/watchers/web/options?key=cmd"
    code, out, _ = run(capsys, "get", "web", "respawn", "env")
    assert last(ctl).target == "/v1/watchers/web/options?key=respawn&key=env"
    assert out.splitlines()[1:] == ["respawn  true", 'env      {"A": "1"}']
    code, out, _ = run(capsys, "options", "web")
    assert code == 0 and "numprocesses  2" in out.splitlines()


def test_stats(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "web")
    assert code == 0
    assert last(ctl).target == "/v1/stats?watcher=web"
    lines = out.splitlines()
    assert lines[0].split() == ["WATCHER", "PID", "CPU%", "RSS", "USS", "FDS", "CHILDREN",
                                "AGE", "RESTARTS"]
    assert lines[2].split() == ["web.1", "101", "1.5", "3.0M", "-", "5", "0", "1m05s", "0"]


def test_logs_and_follow(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "logs", "web", "-n", "5")
    assert last(ctl).target == "/v1/logs?watcher=web&lines=5"
    assert [line.split(" ", 1)[1] for line in out.splitlines()] == ["web.1 | hello",
                                                                     "web.1 ! oops"]
    code, out, _ = run(capsys, "logs", "-f", "--json")
    assert code == 0
    assert last(ctl).target == "/v1/logs/stream"
    assert [json.loads(x) for x in out.splitlines()] == [LOG]


def test_events(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "events", "--topic", "process", "--topic", "watcher")
    assert code == 0
    assert last(ctl).target == "/v1/events?topic=process&topic=watcher"
    assert out.split(" ", 1)[1] == "process.state watcher=web wid=1\n"


def test_sockets_and_reloadconfig(ctl: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "sockets")[1].splitlines()[1].split() == ["web", "127.0.0.1:8080", "3"]
    assert run(capsys, "reloadconfig") == (0, "added: a\nchanged: b, c\n", "")


def test_quit_waits_until_the_controller_is_gone(serve: Serve,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    server: FakeServer

    def handle(req: Request) -> bytes:
        if route_of(req) == "quit":
            server.stop_listening()  # the controller goes away once it has answered
            return response(200, ANSWERS["quit"], close=True)
        return response(200, STATUS)

    server = serve(handle)
    assert run(capsys, "quit", "-e", server.endpoint) == (0, "controller stopped\n", "")


def test_api_error_is_exit_1_one_line(ctl: FakeServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "status", "nope") == (
        1, "", "error: no watcher named 'nope' (not_found)\n")


def test_unreachable_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "-e", f"unix:{tmp_path}/x.sock")
    assert (code, out) == (3, "")
    assert err == (f"error: cannot reach the controller at unix:{tmp_path}/x.sock: "
                   "no such socket (is it running?)\n")


def test_unreachable_by_default_names_the_found_configs_socket(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Without -e, the console asks the controller of the config found here (config
    discovery): a supervisord.conf's is next to it, where `run` puts it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RINGLEADER_ENDPOINT", raising=False)
    monkeypatch.delenv("RINGLEADER_CONFIG", raising=False)
    (tmp_path / "supervisord.conf").write_text("[unix_http_server]\nfile = /tmp/s.sock\n")
    code, _, err = run(capsys, "status")
    assert code == 3
    assert err == (f"error: cannot reach the controller at unix:{tmp_path}/ringleader.sock: "
                   "no such socket (is it running?)\n")


@pytest.mark.parametrize("argv", [["rm"], ["status", "-e", "http://h:1"], ["nosuch"],
                                  ["logs", "-n", "x"], ["completion", "tcsh"], [],
                                  ["-e", "unix:/x", "run"], ["stauts"]])
def test_usage_errors_are_exit_2(argv: list[str], ctl: FakeServer,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") or err.startswith("usage: ")
    if argv:
        assert len(err.splitlines()) == 1


def test_endpoint_precedence(serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    server = serve(controller)
    monkeypatch.setenv("RINGLEADER_ENDPOINT", f"unix:{tmp_path}/wrong.sock")
    assert run(capsys, "list")[0] == 3
    assert run(capsys, "list", "-e", server.endpoint)[0] == 0
    config = tmp_path / "ringleader.toml"
    config.write_text(f'[ringleader]\nendpoint = "unix:{Path(server.path).name}"\n')
    assert run(capsys, "list", "-c", str(config))[0] == 0
    config.write_text("[watchers.a]\ncmd = 'sleep 1'\n")  # default: ringleader.sock beside it
    code, _, err = run(capsys, "list", "-c", str(config))
    assert code == 3 and f"unix:{tmp_path}/ringleader.sock" in err
    # -c reads only the endpoint: a mistake elsewhere is the loader's business (`check`)...
    config.write_text("[watchers.a]\nbogus = 1\n")
    assert run(capsys, "list", "-c", str(config))[0] == 3
    # ...a wrong endpoint, or a file that cannot say it, is a usage error on one line
    for text in ('[ringleader]\nendpoint = "tcp://127.0.0.1:1"\n', '[ringleader]\nendpoint = "x\n'):
        config.write_text(text)
        code, _, err = run(capsys, "list", "-c", str(config))
        assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    code, _, err = run(capsys, "list", "-c", str(tmp_path / "missing.toml"))
    assert code == 2 and err == f"error: cannot read {tmp_path}/missing.toml: No such file or " \
        "directory\n"


def test_token_from_the_environment(ctl: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RINGLEADER_TOKEN", "env-token")
    run(capsys, "list")
    assert last(ctl).headers["authorization"] == "Bearer env-token"
    run(capsys, "list", "--token", "flag-token")
    assert last(ctl).headers["authorization"] == "Bearer flag-token"


def test_every_console_command_has_json(ctl: FakeServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["list"], ["status", "web"], ["start", "web"], ["stop"], ["add", "a", "b"],
                 ["rm", "web"], ["incr", "web"], ["numprocesses", "web"],
                 ["signal", "web", "TERM"], ["set", "web", "cmd", "x"], ["get", "web", "cmd"],
                 ["options", "web"], ["stats"], ["logs"], ["sockets"], ["reloadconfig"]):
        code, out, _ = run(capsys, *argv, "--json")
        assert code == 0, argv
        assert isinstance(json.loads(out), dict), argv


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("ringleader ")


# -- completion --------------------------------------------------------------------------

def test_bash_completion_is_valid_bash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0
    assert "complete -F _ringleader ringleader" in out
    for word in ("status", "numprocesses", "--endpoint", "--follow", "ringleader list"):
        assert word in out
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run([bash, "-n"], input=out, text=True, check=True, timeout=10)


def test_bash_completion_completes(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "completion", "bash")[1]
    script = out + ('COMP_WORDS=(ringleader sta); COMP_CWORD=1; _ringleader; '
                    'echo "${COMPREPLY[@]}"; '
                    'COMP_WORDS=(ringleader logs --fo); COMP_CWORD=2; _ringleader; '
                    'echo "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                          timeout=10)
    first, second = done.stdout.splitlines()
    assert sorted(first.split()) == ["start", "startup", "stats", "status"]
    assert second == "--follow"


def test_zsh_completion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "completion", "zsh")
    assert code == 0
    assert out.startswith("#compdef ringleader\n")
    assert "'1:NAME:_ringleader_watchers'" in out
    zsh = shutil.which("zsh")
    if zsh:
        subprocess.run([zsh, "-n"], input=out, text=True, check=True, timeout=10)
