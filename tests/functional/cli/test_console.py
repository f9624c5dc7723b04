"""The console as whole processes (`python -m ringleader ...`) against a real controller
(`ringleader run`, or `ringleader up`) on a unix socket in tmp_path.

Synchronisation is on the controller's answers (the console's own exit, or polling the API
as a last resort), never on sleeps; every process started here is reaped in a finalizer.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.testing import pid_exists, python_cmd, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
DEADLINE = 30.0  # seconds: a safety net for every console process

CONFIG = textwrap.dedent("""\
    [watchers.sleeper]
    cmd = "sleep 600"
    numprocesses = 2

    [watchers.printer]
    cmd = {printer}
    """)
PRINTER = "import sys, time\nprint('hello from printer', flush=True)\ntime.sleep(600)"


def write_config(directory: Path, extra: str = "") -> Path:
    path = directory / "ringleader.toml"
    path.write_text(CONFIG.format(printer=json.dumps(python_cmd(PRINTER))) + extra)
    return path


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RINGLEADER, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def status_of(endpoint: str) -> dict[str, Any] | None:
    try:
        with Client(endpoint, timeout=5) as client:
            result: dict[str, Any] = client.call("status")
            return result
    except (Unreachable, ApiError):
        return None


def all_running(endpoint: str) -> bool:
    status = status_of(endpoint)
    return status is not None and all(
        w["running"] == w["numprocesses"] for w in status["watchers"])


class Controller:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config = write_config(directory)
        self.endpoint = f"unix:{directory}/ringleader.sock"
        self.log = directory / "run.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*RINGLEADER, "run", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_until_sync(lambda: self.proc.poll() is not None or all_running(self.endpoint),
                        timeout=DEADLINE, what="the controller's API and watchers")
        assert self.proc.poll() is None, self.log.read_text()

    def __call__(self, *args: str, timeout: float = DEADLINE
                 ) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-e", self.endpoint, timeout=timeout)

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    controller = Controller(tmp_path)
    try:
        yield controller
    finally:
        controller.stop()


def test_status_list_and_json(ctl: Controller) -> None:
    done = ctl("status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["WATCHER", "STATE", "RUNNING", "PIDS"]
    assert {line.split()[0] for line in lines[1:]} == {"sleeper", "printer"}
    data = ctl.json("status")
    assert {w["name"] for w in data["watchers"]} == {"sleeper", "printer"}
    assert data["controller"]["pid"] == ctl.proc.pid
    assert set(ctl("list").stdout.strip().split(",")) == {"sleeper", "printer"}
    assert set(ctl.json("list")["watchers"]) == {"sleeper", "printer"}


def test_status_of_a_watcher(ctl: Controller) -> None:
    done = ctl("status", "sleeper")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sleeper: active (2/2 running)")
    info = ctl.json("status", "sleeper")
    assert [p["wid"] for p in info["processes"]] == [1, 2]


def test_incr_decr_numprocesses(ctl: Controller) -> None:
    assert ctl("incr", "sleeper", "2").stdout == "4\n"
    assert ctl("numprocesses", "sleeper").stdout == "4\n"
    assert ctl.json("decr", "sleeper")["numprocesses"] == 3
    wait_until_sync(lambda: ctl.json("status", "sleeper")["running"] == 3, timeout=DEADLINE,
                    what="3 sleepers")


def test_stop_start_restart_reload(ctl: Controller) -> None:
    done = ctl("stop", "sleeper")
    assert done.returncode == 0, done.stderr
    assert ctl.json("status", "sleeper")["running"] == 0
    assert ctl("start", "sleeper").returncode == 0
    wait_until_sync(lambda: ctl.json("status", "sleeper")["running"] == 2, timeout=DEADLINE,
                    what="sleepers back")
    before = {p["pid"] for p in ctl.json("status", "sleeper")["processes"]}
    assert ctl("restart", "sleeper").returncode == 0
    assert ctl("reload", "sleeper").returncode == 0
    wait_until_sync(lambda: ctl.json("status", "sleeper")["running"] == 2, timeout=DEADLINE,
                    what="sleepers after reload")
    after = {p["pid"] for p in ctl.json("status", "sleeper")["processes"]}
    assert not before & after
    assert ctl("stop").returncode == 0  # every watcher
    assert all(w["running"] == 0 for w in ctl.json("status")["watchers"])
    assert ctl("start").returncode == 0


def test_add_and_rm(ctl: Controller) -> None:
    done = ctl("add", "extra", "sleep 600", "--start", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("added extra: ")
    wait_until_sync(lambda: ctl.json("status", "extra")["running"] == 2, timeout=DEADLINE,
                    what="extra running")
    pids = [p["pid"] for p in ctl.json("status", "extra")["processes"]]
    assert ctl("add", "extra", "sleep 1").returncode == 1  # already exists
    assert ctl("rm", "extra").returncode == 0
    assert "extra" not in ctl("list").stdout.strip().split(",")
    assert not any(pid_exists(pid) for pid in pids)


def test_set_get_options(ctl: Controller) -> None:
    done = ctl("set", "sleeper", "graceful_timeout", "5", "max_age", "0")
    assert done.returncode == 0, done.stderr
    assert ctl("get", "sleeper", "graceful_timeout").stdout.strip() in ("5", "5.0")
    opts = ctl.json("options", "sleeper")["options"]
    assert float(opts["graceful_timeout"]) == 5.0
    bad = ctl("set", "sleeper", "numprocesses", "many")
    assert bad.returncode == 1 and bad.stderr.startswith("error: ")
    assert len(bad.stderr.splitlines()) == 1


def test_signal(ctl: Controller) -> None:
    pid = ctl.json("status", "sleeper")["processes"][0]["pid"]
    done = ctl("signal", "sleeper", "USR1", "--pid", str(pid))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "signalled 1 process\n"
    # SIGUSR1 kills sleep: the slot is respawned
    wait_until_sync(lambda: pid not in {p["pid"] for p in
                                        ctl.json("status", "sleeper")["processes"]},
                    timeout=DEADLINE, what="the signalled sleeper to be replaced")


def test_stats_logs_sockets(ctl: Controller) -> None:
    stats = ctl.json("stats", "sleeper")
    assert [w["name"] for w in stats["watchers"]] == ["sleeper"]
    assert ctl("stats").returncode == 0
    wait_until_sync(lambda: "hello from printer" in ctl("logs", "printer").stdout,
                    timeout=DEADLINE, what="the printer's line in the logs")
    lines = ctl.json("logs", "printer", "-n", "1")["lines"]
    assert lines[-1]["line"].rstrip("\n") == "hello from printer"
    done = ctl("sockets")
    assert done.returncode == 0, done.stderr
    assert isinstance(ctl.json("sockets")["sockets"], list)


def _interrupt_after_first_line(args: list[str], trigger: list[str] | None,
                                endpoint: str) -> tuple[str, int, str]:
    proc = subprocess.Popen([*RINGLEADER, *args, "-e", endpoint], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        if trigger:
            # the stream is open once the server has answered its headers; a trigger sent
            # before then would be missed, so repeat it until a line arrives
            sel = selectors.DefaultSelector()
            assert proc.stdout is not None
            sel.register(proc.stdout, selectors.EVENT_READ)
            for _ in range(int(DEADLINE / 0.5)):
                cli(*trigger, "-e", endpoint)
                if sel.select(0.5):
                    break
            sel.close()
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(DEADLINE)
        assert proc.stderr is not None
        return first, code, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_logs_follow_and_ctrl_c(ctl: Controller) -> None:
    first, code, err = _interrupt_after_first_line(["logs", "printer", "-f", "-n", "1"],
                                                   None, ctl.endpoint)
    assert "printer.1 | hello from printer" in first
    assert (code, err) == (130, "")


def test_events_and_ctrl_c(ctl: Controller) -> None:
    first, code, err = _interrupt_after_first_line(["events", "--json"],
                                                   ["incr", "sleeper"], ctl.endpoint)
    event = json.loads(first)
    assert {"topic", "at", "data"} <= set(event)
    assert (code, err) == (130, "")


def test_reloadconfig(ctl: Controller) -> None:
    write_config(ctl.dir, '\n[watchers.newcomer]\ncmd = "sleep 600"\n')
    done = ctl("reloadconfig")
    assert done.returncode == 0, done.stderr
    assert "added: newcomer" in done.stdout
    ctl.config.write_text("[watchers.broken]\nnumprocesses = -1\n")
    bad = ctl("reloadconfig")
    assert bad.returncode == 1 and bad.stderr.startswith("error: ")
    assert "newcomer" in ctl("list").stdout.strip().split(",")


def test_exit_codes(ctl: Controller, tmp_path: Path) -> None:
    missing = ctl("status", "nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1
    usage = ctl("rm")
    assert usage.returncode == 2 and len(usage.stderr.splitlines()) == 1
    gone = cli("status", "-e", f"unix:{tmp_path}/nothing.sock")
    assert gone.returncode == 3
    assert gone.stderr == (f"error: cannot reach the controller at unix:{tmp_path}/"
                           "nothing.sock: no such socket (is it running?)\n")
    assert "Traceback" not in missing.stderr + usage.stderr + gone.stderr


def test_endpoint_from_config_and_environment(ctl: Controller) -> None:
    by_config = cli("list", "-c", str(ctl.config))
    assert by_config.returncode == 0, by_config.stderr
    env = {**os.environ, "RINGLEADER_ENDPOINT": ctl.endpoint}
    assert cli("list", env=env).returncode == 0
    assert cli("list", cwd=ctl.dir).returncode == 0  # unix:ringleader.sock here


# -- up and quit -------------------------------------------------------------------------

@pytest.fixture
def daemons() -> Iterator[list[Path]]:
    """Pidfiles of daemons started with `up`: whatever is left is killed."""
    pidfiles: list[Path] = []
    yield pidfiles
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            continue
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        wait_until_sync(lambda pid=pid: not pid_exists(pid), timeout=10, what="daemon gone")


def test_up_then_quit(tmp_path: Path, daemons: list[Path]) -> None:
    config = write_config(tmp_path)
    pidfile = tmp_path / "ringleader.pid"
    daemons.append(pidfile)
    up = cli("up", str(config))
    assert up.returncode == 0, up.stderr
    assert "ringleader started" in up.stdout
    pid = int(pidfile.read_text())
    assert pid_exists(pid)
    assert (tmp_path / "ringleader.log").exists()
    status = cli("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert all(w["state"] == "active" for w in json.loads(status.stdout)["watchers"])

    again = cli("up", str(config))
    assert again.returncode == 1
    assert "already answers" in again.stderr

    quit_ = cli("quit", "-c", str(config))
    assert quit_.returncode == 0, quit_.stderr
    wait_until_sync(lambda: not pid_exists(pid), timeout=DEADLINE, what="the daemon's exit")
    assert not pidfile.exists()
    assert cli("status", cwd=tmp_path).returncode == 3


def test_up_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "ringleader.toml"
    config.write_text("[watchers.w]\nnumprocesses = 'x'\n")
    up = cli("up", str(config))
    assert up.returncode == 2
    assert up.stderr.startswith("error: ") and "numprocesses" in up.stderr
    assert not (tmp_path / "ringleader.pid").exists()


def test_up_reports_why_the_daemon_died(tmp_path: Path, daemons: list[Path]) -> None:
    # the control socket cannot be created (its "directory" is a file): the daemon exits,
    # and up shows its log
    config = write_config(tmp_path).read_text()
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "ringleader.toml"
    path.write_text('[ringleader]\nendpoint = "unix:a-file/r.sock"\n' + config)
    daemons.append(tmp_path / "ringleader.pid")
    up = cli("up", str(path), "--timeout", "20")
    assert up.returncode == 1
    assert up.stderr.startswith("error: the controller exited")
    assert "last lines of" in up.stderr
    assert "Traceback" not in up.stderr.splitlines()[0]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_up_reports_a_port_in_use(tmp_path: Path, daemons: list[Path]) -> None:
    import hashlib
    import socket

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=DEADLINE)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        digest = hashlib.sha256(b"secret-token").hexdigest()
        path = tmp_path / "ringleader.toml"
        path.write_text(textwrap.dedent(f"""\
            [ringleader.tcp]
            listen = "127.0.0.1:{port}"
            tls_cert = "cert.pem"
            tls_key = "key.pem"

            [[ringleader.tokens]]
            name = "ops"
            role = "admin"
            hash = "sha256:{digest}"
            """) + write_config(tmp_path).read_text())
        daemons.append(tmp_path / "ringleader.pid")
        up = cli("up", str(path), "--timeout", "20")
    assert up.returncode == 1
    assert up.stderr.startswith("error: the controller exited")
    assert "in use" in up.stderr.lower()
