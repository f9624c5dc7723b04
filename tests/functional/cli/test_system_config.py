"""Issue 13: a root controller whose config is under /etc keeps its socket and pid file in
/run/ringleader, its state in /var/lib/ringleader, its log and audit log in
/var/log/ringleader (made 0700, 0700, 0750), each named after the config, unless the
config says otherwise. Through `ringleader up` of a real config under /etc (a folder and
name of the test's own, removed at the end with every file it made)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from ops_controller import cli

from ringleader.testing import wait_until_sync

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes under /etc, /run, /var")

SYSTEM_DIRS = {"/run/ringleader": 0o700, "/var/lib/ringleader": 0o700,
               "/var/log/ringleader": 0o750}


class SystemConfig:
    def __init__(self) -> None:
        self.stem = f"rltest-{uuid.uuid4().hex[:10]}"
        self.folder = Path("/etc") / self.stem
        self.config = self.folder / f"{self.stem}.toml"
        self.made = [d for d in SYSTEM_DIRS if not os.path.exists(d)]
        self.files = [Path("/run/ringleader", f"{self.stem}.sock"),
                      Path("/run/ringleader", f"{self.stem}.pid"),
                      Path("/var/lib/ringleader", f"{self.stem}.state"),
                      Path("/var/log/ringleader", f"{self.stem}.log"),
                      Path("/var/log/ringleader", f"{self.stem}-audit.log")]

    def cleanup(self) -> None:
        pid_file = self.files[1]
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        if pid is not None and psutil.pid_exists(pid):
            cli("quit", "-c", str(self.config), "--timeout", "10", timeout=30)
            try:
                psutil.Process(pid).wait(20)
            except psutil.NoSuchProcess:
                pass
            except psutil.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)
        for path in self.files:
            path.unlink(missing_ok=True)
        for folder in self.made:  # only the ones this test made, and only if empty
            try:
                os.rmdir(folder)
            except OSError:
                pass


@pytest.fixture
def system() -> Iterator[SystemConfig]:
    config = SystemConfig()
    try:
        yield config
    finally:
        config.cleanup()


def test_a_system_config_keeps_its_files_in_the_system_folders(system: SystemConfig) -> None:
    system.folder.mkdir(mode=0o755)
    system.config.write_text('[watchers.sleeper]\ncmd = "sleep 600"\n'
                             '[watchers.sleeper.stdout_stream]\nkind = "null"\n')
    sock, pid, state, log, audit = system.files
    done = cli("up", str(system.config), timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"endpoint unix:{sock}" in done.stdout and f"log {log}" in done.stdout
    assert sock.is_socket() and pid.is_file() and log.is_file()
    assert not list(system.folder.glob("ringleader*"))  # nothing next to the config
    # The console finds the endpoint from the config alone; a change is recorded.
    assert cli("incr", "sleeper", "-c", str(system.config)).returncode == 0
    wait_until_sync(lambda: state.is_file() and audit.is_file(), timeout=20,
                    what="the state file and the audit log")
    for folder, mode in SYSTEM_DIRS.items():
        st = os.stat(folder)
        assert st.st_uid == 0 and not stat.S_IMODE(st.st_mode) & ~mode, (folder, st)
        if folder in system.made:
            assert stat.S_IMODE(st.st_mode) == mode, folder


def test_a_system_config_that_names_its_files_keeps_them(system: SystemConfig,
                                                          tmp_path: Path) -> None:
    system.folder.mkdir(mode=0o755)
    system.config.write_text(
        f'[ringleader]\nendpoint = "unix:{tmp_path}/ctl.sock"\n'
        f'statefile = "{tmp_path}/ctl.state"\n'
        '[watchers.sleeper]\ncmd = "sleep 600"\n')
    done = cli("up", str(system.config), "--log-output", str(tmp_path / "ctl.log"),
               "--pidfile", str(system.files[1]), timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ctl.sock").is_socket() and (tmp_path / "ctl.log").is_file()
    assert not system.files[0].exists()
    assert cli("incr", "sleeper", "-c", str(system.config)).returncode == 0
    wait_until_sync(lambda: (tmp_path / "ctl.state").is_file(), timeout=20,
                    what="the named state file")
    assert not system.files[2].exists()
