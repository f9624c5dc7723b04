"""Issue 13, the console's part: the `ringleader` command as whole processes against a real
controller (`ringleader run` on a unix socket in tmp_path) — global options, suggestions,
exit codes, log filters, `add --start`, `quit`, colours, tokens.

Synchronisation is on the console's own exit or the controller's answers (polling the API
with a deadline as the last resort), never on sleeps; every process is reaped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from ops_controller import DEADLINE, RINGLEADER, SLOW, TALKER, Controller, cli, status_of

from ringleader.api.client import ApiError, Client
from ringleader.testing import python_cmd, wait_until_sync


@pytest.fixture
def ctl(controllers: Callable[..., Controller]) -> Controller:
    return controllers(textwrap.dedent(f"""\
        [watchers.sleeper]
        cmd = "sleep 600"

        [watchers.talker]
        cmd = {json.dumps(python_cmd(TALKER))}
        numprocesses = 2
        """))


# -- finding things ------------------------------------------------------------------------

def test_global_options_before_the_command(ctl: Controller) -> None:
    done = cli("-e", ctl.endpoint, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["WATCHER", "STATE", "RUNNING", "PIDS"]
    data = json.loads(cli("--json", "--timeout", "10", "-e", ctl.endpoint, "list").stdout)
    assert set(data["watchers"]) == {"sleeper", "talker"}
    assert cli("-c", str(ctl.config), "list").stdout.strip().split(",") == ["sleeper", "talker"]
    # given on both sides, the one after the command wins
    wrong = f"unix:{ctl.dir}/nothing.sock"
    assert cli("-e", wrong, "list", "-e", ctl.endpoint).returncode == 0
    assert cli("-e", ctl.endpoint, "list", "-e", wrong).returncode == 3
    # an option the command does not take: one line, exit 2
    refused = cli("-e", ctl.endpoint, "run")
    assert refused.returncode == 2
    assert refused.stderr == ("error: ringleader run: -e/--endpoint does not apply to this "
                              "command\n")


def test_mistyped_commands_help_and_version() -> None:
    typo = cli("stauts")
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr == "error: ringleader: unknown command 'stauts': did you mean status?\n"
    assert "did you mean rm?" in cli("remove", "web").stderr
    unknown = cli("-e", "unix:/x", "xyzzy")
    assert unknown.returncode == 2 and "`ringleader help` lists the commands" in unknown.stderr
    as_json = cli("--json", "stauts")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"] == "usage"

    helped = cli("help", "stop")
    assert helped.returncode == 0 and helped.stderr == ""
    assert helped.stdout.startswith("usage: ringleader stop ")
    assert "--endpoint" in helped.stdout
    assert cli("help").stdout.startswith("usage: ringleader ")
    assert "did you mean logs?" in cli("help", "lgos").stderr

    for flag in ("-V", "--version"):
        version = cli(flag)
        assert version.returncode == 0 and version.stdout.startswith("ringleader 0.")


# -- status exit codes -------------------------------------------------------------------

def test_status_exits_4_while_a_watcher_is_failed_or_flapping(
        controllers: Callable[..., Controller]) -> None:
    ctl = controllers(textwrap.dedent("""\
        [watchers.fine]
        cmd = "sleep 600"

        [watchers.crash]
        cmd = "false"
        [watchers.crash.backoff]
        free_retries = 0
        initial = 0.01
        max_retries = 1

        [watchers.flap]
        cmd = "false"
        [watchers.flap.flapping]
        attempts = 2
        window = 10
        retry_in = 600
        """), ready=lambda s: {w["name"]: w["state"] for w in s["watchers"]}
                  == {"fine": "active", "crash": "failed", "flap": "flapping"})
    for args in (("status",), ("status", "--json"), ("status", "crash"),
                 ("status", "flap", "--json")):
        done = ctl(*args)
        assert done.returncode == 4, (args, done.stderr)
        assert done.stderr == ""
    assert "failed" in ctl("status", "crash").stdout
    assert json.loads(ctl("status", "--json").stdout)["watchers"][0]["name"] == "fine"
    assert ctl("status", "fine").returncode == 0
    # once stopped, nothing is failing any more
    assert ctl("stop", "crash").returncode == 0
    assert ctl("stop", "flap").returncode == 0
    assert ctl("status").returncode == 0


# -- logs ---------------------------------------------------------------------------------

def _lines(ctl: Controller, *args: str) -> list[str]:
    done = ctl("logs", "talker", "--json", "-n", "100", *args)
    assert done.returncode == 0, done.stderr
    return [f"{x['stream']} {x['line']}" for x in json.loads(done.stdout)["lines"]]


def test_logs_by_stream_slot_and_time(ctl: Controller) -> None:
    early = {"stdout early out 1", "stderr early err 1", "stdout early out 2",
             "stderr early err 2"}
    wait_until_sync(lambda: set(_lines(ctl)) == early, timeout=DEADLINE,
                    what="the talkers' first lines")
    assert set(_lines(ctl, "--stream", "stderr")) == {"stderr early err 1",
                                                     "stderr early err 2"}
    assert set(_lines(ctl, "--wid", "2")) == {"stdout early out 2", "stderr early err 2"}
    assert _lines(ctl, "--wid", "2", "--stream", "stdout") == ["stdout early out 2"]
    human = ctl("logs", "talker", "--stream", "stderr", "--wid", "1")
    assert human.returncode == 0
    assert [line.split(" ", 1)[1] for line in human.stdout.splitlines()] == [
        "talker.1 ! early err 1"]

    cut = time.time()
    pids = [p["pid"] for p in ctl.json("status", "talker")["processes"]]
    os.kill(pids[0], signal.SIGUSR1)
    wait_until_sync(lambda: len(_lines(ctl)) == 6, timeout=DEADLINE, what="the late lines")
    since = datetime.fromtimestamp(cut).isoformat()
    assert set(_lines(ctl, "--since", since)) == {"stdout late out 1", "stderr late err 1"}
    assert set(_lines(ctl, "--since", since, "--stream", "stdout")) == {"stdout late out 1"}
    assert len(_lines(ctl, "--since", "1h")) == 6
    assert _lines(ctl, "--since", "2099-01-01T00:00") == []

    # following: only what the filters keep
    follow = subprocess.Popen([*RINGLEADER, "logs", "talker", "-f", "--stream", "stderr",
                               "--wid", "2", "--json", "-e", ctl.endpoint],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        # the stream is open once it answers: repeat the trigger until a line arrives
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(follow.stdout, selectors.EVENT_READ)
            for _ in range(int(DEADLINE / 0.5)):
                os.kill(pids[1], signal.SIGUSR1)
                if sel.select(0.5):
                    break
        line = json.loads(follow.stdout.readline())
        assert (line["stream"], line["wid"], line["line"]) == ("stderr", 2, "late err 2")
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(DEADLINE)
        for stream in (follow.stdout, follow.stderr):
            if stream:
                stream.close()


def test_logs_and_events_errors_in_json_and_bad_filters(ctl: Controller,
                                                        tmp_path: Path) -> None:
    for args in (("logs", "nope"), ("logs", "nope", "-f")):
        done = ctl(*args, "--json")
        assert done.returncode == 1
        assert json.loads(done.stdout) == {"error": "not_found",
                                           "detail": "no watcher named 'nope'", "exit_code": 1}
        assert done.stderr == "error: no watcher named 'nope' (not_found)\n"
    gone = cli("events", "--json", "-e", f"unix:{tmp_path}/none.sock")
    assert gone.returncode == 3
    assert json.loads(gone.stdout)["error"] == "unreachable"
    bad = ctl("logs", "--since", "yesterday-ish", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"] == "usage"
    assert "--since 'yesterday-ish': expected a duration" in bad.stderr
    # the controller refuses what the console would not send: 400, and it goes on
    with Client(ctl.endpoint) as client:
        for query in ({"stream": "both"}, {"wid": "-1"}, {"wid": "x"}, {"since": "soon"},
                      {"since": "nan"}, {"stream": ["stdout", "stderr"]}):
            with pytest.raises(ApiError) as refused:
                client.call("logs", query=query)
            assert (refused.value.status, refused.value.code) == (400, "bad_request"), query
        assert client.call("status")["watchers"]


# -- add --start, quit ----------------------------------------------------------------------

def test_add_start_says_whether_the_processes_stay_up(ctl: Controller) -> None:
    bad = ctl("add", "bad", "false", "--start")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("error: added bad, but it does not stay up: bad.1 exited "
                                 "with code 1 within 1s of its start")
    killed = ctl("add", "killed", "sh -c 'kill -9 $$'", "--start", "--json")
    assert killed.returncode == 1
    assert json.loads(killed.stdout)["error"] == "start_failed"
    assert "killed.1 was killed by signal 9" in killed.stderr
    assert {"bad", "killed"} <= set(ctl("list").stdout.strip().split(","))  # added all the same

    good = ctl("add", "good", "sleep 600", "--start", "-n", "2")
    assert (good.returncode, good.stdout) == (0, "added good: active (2/2 running)\n")
    info = json.loads(ctl("add", "good2", "sleep 600", "--start", "--json").stdout)
    assert (info["state"], info["running"]) == ("active", 1)


def test_quit_returns_once_the_controller_is_gone(controllers: Callable[..., Controller],
                                                  ) -> None:
    ctl = controllers(f"[watchers.slow]\ncmd = {json.dumps(python_cmd(SLOW))}\n")
    done = ctl("quit")
    assert (done.returncode, done.stdout) == (0, "controller stopped\n"), done.stderr
    # the controller is our child: it has exited (a zombie until reaped), not still stopping
    assert ctl.proc.poll() == 0


# -- colours --------------------------------------------------------------------------------

def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(values)
    return env


def test_console_colours_follow_color_no_color_and_force_color(ctl: Controller) -> None:
    def coloured(*args: str, **env: str) -> bool:
        done = ctl("status", *args, env=_env(**env))
        assert done.returncode == 0, done.stderr
        return "\x1b[" in done.stdout

    assert not coloured()  # not a terminal
    assert coloured(FORCE_COLOR="1")
    assert not coloured(NO_COLOR="1", FORCE_COLOR="1")
    assert coloured("--color", "always", NO_COLOR="1")
    assert not coloured("--color", "never", FORCE_COLOR="1")
    assert not coloured("--color", "auto")
    assert "\x1b[" in cli("--color", "always", "-e", ctl.endpoint, "status").stdout
    assert ctl("status", "--color", "blue").returncode == 2


@pytest.mark.parametrize(("args", "env", "expected"), [
    ((), {}, True),  # a terminal
    ((), {"NO_COLOR": "1"}, False),
    (("--color", "never"), {}, False),
    (("--color", "always"), {"NO_COLOR": "1"}, True),
])
def test_run_prefixes_in_a_terminal(tmp_path: Path, args: tuple[str, ...],
                                    env: dict[str, str], expected: bool) -> None:
    """`run`'s console prefixes on a real pseudo-terminal."""
    import pty
    import selectors

    master, slave = pty.openpty()
    proc = subprocess.Popen([*RINGLEADER, "run", "--cmd", python_cmd(
        "import time; print('hello there', flush=True); time.sleep(600)"), "--name", "hi",
        "--log-output", str(tmp_path / "controller.log"), *args],
        stdout=slave, stderr=slave, env=_env(**env), cwd=tmp_path)
    os.close(slave)
    seen = b""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(master, selectors.EVENT_READ)
            end = time.monotonic() + DEADLINE
            while b"hello there" not in seen and time.monotonic() < end:
                if sel.select(end - time.monotonic()):
                    try:
                        seen += os.read(master, 4096)
                    except OSError:
                        break
        assert b"hello there" in seen, seen
        line = next(x for x in seen.splitlines() if b"hello there" in x)
        assert (b"\x1b[" in line) is expected, line
        assert b"hi.1 |" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(DEADLINE)
        os.close(master)


# -- tokens --------------------------------------------------------------------------------

def test_token_new_prints_toml_that_loads_or_refuses_the_name() -> None:
    done = cli("token", "new", "--name", "ci.deploy@prod-2", "--role", "admin")
    assert done.returncode == 0, done.stderr
    entry = tomllib.loads(done.stdout)["ringleader"]["tokens"][0]
    assert entry["name"] == "ci.deploy@prod-2" and entry["role"] == "admin"
    assert entry["hash"].startswith("sha256:")
    token = done.stderr.rsplit(" ", 1)[1].strip()
    assert cli("token", "hash", token).stdout.strip() == entry["hash"]

    refused = cli("token", "new", "--name", 'ci "prod"')
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == ("error: ringleader token new: --name 'ci \"prod\"': a token "
                              "name is 1 to 128 letters, digits, '_', '.', '@' or '-'\n")


def test_config_before_run_and_quit(tmp_path: Path) -> None:
    config = tmp_path / "ringleader.toml"
    config.write_text('[watchers.sleeper]\ncmd = "sleep 600"\n')
    endpoint = f"unix:{tmp_path}/ringleader.sock"
    with open(tmp_path / "run.log", "wb") as log:
        proc = subprocess.Popen([*RINGLEADER, "-c", str(config), "run"], stdout=log,
                                stderr=subprocess.STDOUT, cwd="/")
    try:
        wait_until_sync(lambda: proc.poll() is not None or status_of(endpoint) is not None,
                        timeout=DEADLINE, what="the controller started with -c")
        assert proc.poll() is None, (tmp_path / "run.log").read_text()
        done = cli("-c", str(config), "quit")
        assert (done.returncode, done.stdout) == (0, "controller stopped\n"), done.stderr
        assert proc.poll() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(DEADLINE)



def test_top_of_one_watcher_sorted_by_memory(ctl: Controller) -> None:
    proc = subprocess.Popen([*RINGLEADER, "top", "talker", "--sort", "mem", "--interval", "0.5",
                             "-e", ctl.endpoint], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "140"})
    try:
        assert proc.stdout is not None
        table: list[str] = []
        for line in proc.stdout:  # not a terminal: one table per update
            table.append(line)
            if "sorted by mem" in line:
                break
        text = "".join(table)
        assert "talker.1" in text and "talker.2" in text and "sleeper" not in text
        rows = [x.split() for x in table if x.split()[:1] in (["talker.1"], ["talker.2"])]
        assert len(rows) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(DEADLINE) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
