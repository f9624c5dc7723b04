"""Controller options from circus and supervisord with a real controller: [circus] umask
(the workers inherit it), logoutput = syslog://, and the process-level user and limits
(supervisord user, minfds, minprocs)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ringleader.testing import wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


def run_controller(folder: Path, config: str) -> subprocess.Popen[bytes]:
    with open(folder / "log", "wb") as log:
        return subprocess.Popen([*RINGLEADER, "run", config], cwd=folder, stdout=log,
                                stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def test_circus_umask_is_the_controllers_and_its_workers(tmp_path: Path) -> None:
    out = tmp_path / "umask"
    (tmp_path / "circus.ini").write_text(textwrap.dedent(f"""
        [circus]
        umask = 027

        [watcher:w]
        cmd = {sys.executable} -c "import os; m = os.umask(0); open('{out}', 'w').write(oct(m))"
        respawn = false
    """))
    proc = run_controller(tmp_path, "circus.ini")
    try:
        wait_until_sync(lambda: out.exists() and out.read_text() != "", timeout=20,
                        what="the worker's umask")
    finally:
        assert stop(proc) == 0
    assert out.read_text() == "0o27"


def test_logoutput_syslog_to_a_local_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(20)
        (tmp_path / "ringleader.toml").write_text(textwrap.dedent(f"""
            [ringleader]
            logoutput = "syslog://{path}?local0"
            [watchers.w]
            cmd = "sleep 60"
        """))
        proc = run_controller(tmp_path, "ringleader.toml")
        try:
            messages = []
            while not any(b"controller started" in m for m in messages):
                messages.append(server.recv(4096))
        finally:
            assert stop(proc) == 0
    line = next(m for m in messages if b"controller started" in m)
    assert line.startswith(b"<%d>" % (16 * 8 + 6))  # local0.info
    assert b"ringleader: " in line


def _python(code: str, *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", code]
    if user is not None:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switches_a_root_controller_and_refuses_otherwise() -> None:
    done = _python("import os; from ringleader.proc.identity import drop_privileges\n"
                   "print(drop_privileges('nobody')); print(os.getuid(), os.getgid())")
    note, ids = done.stdout.splitlines()
    assert note.startswith("running as user nobody") and ids == "65534 65534"
    refused = _python("from ringleader.proc.identity import drop_privileges\n"
                      "drop_privileges('root')", user="nobody")
    assert "only a controller started as root can switch to another user" in refused.stderr


def test_minfds_raises_the_limit_or_refuses() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(soft + 1, hard) if hard != resource.RLIM_INFINITY else soft + 1
    done = _python("import resource; from ringleader.proc.identity import raise_minimum\n"
                   f"raise_minimum(resource.RLIMIT_NOFILE, 'open files', 'minfds', {want})\n"
                   "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    assert int(done.stdout) >= want
    if os.geteuid() == 0:  # as nobody the hard limit cannot go up
        refused = _python("import resource; from ringleader.proc.identity import "
                          "raise_minimum\nsoft, hard = resource.getrlimit(resource."
                          "RLIMIT_NOFILE)\nraise_minimum(resource.RLIMIT_NOFILE, 'open "
                          "files', 'minfds', hard + 1)", user="nobody")
        assert "minfds = " in refused.stderr and "cannot be raised" in refused.stderr
