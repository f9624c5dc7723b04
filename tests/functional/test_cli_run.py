"""`ringleader run` and `ringleader check` as whole processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import children_of, pid_exists, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


def workers_of(pid: int, program: str = "sleep") -> set[int]:
    result = set()
    for child in children_of(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0) == program.encode():
            result.add(child)
    return result


@pytest.fixture
def controllers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        shutil.rmtree(proc.workdir, ignore_errors=True)  # type: ignore[attr-defined]


def start(controllers: list[subprocess.Popen[bytes]], *args: str,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    # In a directory of its own: the control socket of a config-less run goes to the
    # current directory.
    cwd = tempfile.mkdtemp(prefix="ringleader-test-")
    proc = subprocess.Popen([*RINGLEADER, *args], stdout=subprocess.DEVNULL, stderr=stderr,
                            cwd=cwd)
    proc.workdir = cwd  # type: ignore[attr-defined]
    if log:
        stderr.close()  # type: ignore[union-attr]
    controllers.append(proc)
    return proc


def test_run_cmd_starts_workers_and_sigterm_stops_them(controllers: list) -> None:
    proc = start(controllers, "run", "--cmd", "sleep 600", "-n", "3")
    wait_until_sync(lambda: len(workers_of(proc.pid)) == 3, what="3 workers")
    pids = workers_of(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not any(pid_exists(p) for p in pids)


def test_sigint_stops_gracefully_too(controllers: list, tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = start(controllers, "run", "--cmd", "sleep 600", "-n", "2", "--log-level", "debug",
                 log=log)
    wait_until_sync(lambda: len(workers_of(proc.pid)) == 2, what="2 workers")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    text = log.read_text()
    assert "spawned pid" in text and "controller stopped" in text
    assert "Traceback" not in text


def test_controller_sigkill_leaves_no_worker_behind(controllers: list) -> None:
    proc = start(controllers, "run", "--cmd", "sleep 600", "-n", "4")
    wait_until_sync(lambda: len(workers_of(proc.pid)) == 4, what="4 workers")
    pids = workers_of(proc.pid)
    proc.kill()
    proc.wait(10)
    wait_until_sync(lambda: not any(pid_exists(p) for p in pids), timeout=15,
                    what="workers gone after the controller was killed")


def test_sighup_reloads_the_config(controllers: list, tmp_path: Path) -> None:
    config = tmp_path / "ringleader.toml"
    config.write_text(textwrap.dedent("""
        [watchers.keep]
        cmd = "sleep 600"
        [watchers.keep.stdout_stream]
        kind = "null"
        [watchers.gone]
        cmd = "sleep 601"
    """))
    proc = start(controllers, "run", str(config), log=tmp_path / "log")
    wait_until_sync(lambda: len(workers_of(proc.pid)) == 2, what="2 workers")
    kept = next(p for p in workers_of(proc.pid)
                if b"600" in Path(f"/proc/{p}/cmdline").read_bytes())

    config.write_text(textwrap.dedent("""
        [watchers.keep]
        cmd = "sleep 600"
        [watchers.keep.stdout_stream]
        kind = "null"
        [watchers.new]
        cmd = "sleep 602"
        numprocesses = 2
    """))
    proc.send_signal(signal.SIGHUP)

    def cmdlines() -> list[bytes]:
        out = []
        for p in workers_of(proc.pid):
            try:
                out.append(Path(f"/proc/{p}/cmdline").read_bytes())
            except OSError:
                pass
        return sorted(out)

    wait_until_sync(lambda: cmdlines() == [b"sleep\x00600\x00", b"sleep\x00602\x00",
                                           b"sleep\x00602\x00"], what="reloaded workers")
    assert kept in workers_of(proc.pid)  # untouched watcher keeps its process

    # A broken file changes nothing and the controller goes on.
    config.write_text("[watchers.bad]\nnumprocesses = 'x'\n")
    proc.send_signal(signal.SIGHUP)
    wait_until_sync(lambda: "reload refused" in (tmp_path / "log").read_text(), what="refusal")
    assert len(workers_of(proc.pid)) == 3
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_sighup_of_a_file_run_would_refuse_changes_nothing(controllers: list,
                                                         tmp_path: Path) -> None:
    """Past max_processes: refused like `check` refuses it; the controller goes on (it
    used to die of the LimitExceeded raised mid-reload)."""
    config = tmp_path / "ringleader.toml"
    config.write_text('[ringleader]\nmax_processes = 2\n[watchers.w]\ncmd = "sleep 600"\n')
    log = tmp_path / "log"
    proc = start(controllers, "run", str(config), log=log)
    wait_until_sync(lambda: len(workers_of(proc.pid)) == 1, what="1 worker")
    config.write_text('[ringleader]\nmax_processes = 2\n[watchers.w]\ncmd = "sleep 600"\n'
                      "numprocesses = 3\n")
    proc.send_signal(signal.SIGHUP)
    wait_until_sync(lambda: "reload refused" in log.read_text(), what="the refusal")
    assert "max_processes" in log.read_text()
    assert proc.poll() is None and len(workers_of(proc.pid)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_run_with_a_bad_config_exits_2_with_one_line_errors(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[watchers.w]\ncmd = 'sleep 1'\nnumprocesses = -2\n")
    result = subprocess.run([*RINGLEADER, "run", str(config)], capture_output=True, timeout=30)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "numprocesses" in err and "bad.toml" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["run", "--cmd", "sleep 1", "-n", "x"], ["frobnicate"],
                                  ["run", "a.toml", "--cmd", "x"], ["run", "/nonexistent.toml"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = subprocess.run([*RINGLEADER, *args], capture_output=True, timeout=30)
    assert result.returncode == 2, result
    assert result.stderr.startswith(b"error: ")
    assert b"Traceback" not in result.stderr


def test_check_prints_the_resolved_watchers(tmp_path: Path) -> None:
    config = tmp_path / "circus.ini"
    config.write_text("[circus]\n[watcher:web]\ncmd = sleep 5\nnumprocesses = 2\n")
    result = subprocess.run([*RINGLEADER, "check", str(config)], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert b"web" in result.stdout and b"numprocesses" in result.stdout


def test_demo_config_is_valid() -> None:
    demo = Path(__file__).parents[2] / "examples" / "demo.toml"
    result = subprocess.run([*RINGLEADER, "check", str(demo)], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
