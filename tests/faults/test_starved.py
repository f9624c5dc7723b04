"""Faults that starve the controller rather than kill it: SIGSTOPped for 10 s, the disk
of a log filling up during rotation, no file descriptor left (EMFILE). Each time: the
controller stays up, says what is wrong, loses nothing, and recovers by itself once the
resource is back."""

from __future__ import annotations

import itertools
import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.testing import python_cmd, wait_until_sync

from .conftest import (
    DEADLINE,
    Controller,
    StartController,
    assert_only_known_processes,
    tagged,
    wait_none_tagged,
    wait_settled,
    watcher_toml,
    write,
)

# Writes numbered lines (`<n> xxxx...`, `size` bytes each) as fast as the pipe takes
# them, `count` in all (forever when 0), then exits.
COUNTER = """
import sys
count, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
n = 0
while count == 0 or n < count:
    line = b"%d " % n
    out.write(line + b"x" * (size - len(line) - 1) + b"\\n")
    n += 1
    if n % 50 == 0:
        out.flush()
out.flush()
"""


def counter_cmd(count: int, size: int, pace: float = 0.0) -> str:
    code = COUNTER if not pace else COUNTER.replace(
        "        out.flush()", f"        out.flush()\n        import time; time.sleep({pace})")
    return python_cmd(code) + f" {count} {size}"


def numbers(*files: Path) -> list[int]:
    """The line numbers in `files`, in order (lines are `<n> xxx` or, from a console
    sink, prefixed; a file sink has no prefix)."""
    out = []
    for f in files:
        if f.exists():
            out += [int(line.split(b" ", 1)[0]) for line in f.read_bytes().splitlines()]
    return out


def assert_contiguous(ns: list[int], last: int | None = None) -> None:
    assert ns, "no line at all"
    gaps = [(a, b) for a, b in itertools.pairwise(ns) if b != a + 1]
    assert not gaps, f"lines lost or reordered at {gaps[:5]}"
    if last is not None:
        assert ns[-1] == last, f"the last line is {ns[-1]}, not {last}"


def cli_quit(ctl: Controller) -> None:
    assert ctl.cli("quit").returncode == 0
    assert ctl.proc.wait(DEADLINE) == 0


# -- SIGSTOP -------------------------------------------------------------------------------

def test_controller_stopped_for_10s_then_continued(tmp_path: Path, tag: str,
                                                   start_controller: StartController) -> None:
    """While stopped: the console gives up within its timeout, a worker dies, the
    chatty one is held by its full pipe. Once continued: the death is seen and the slot
    respawned, every other worker is the same process, and the output has no gap."""
    out = tmp_path / "chatty.log"
    config = write(tmp_path / "ringleader.toml",
                   watcher_toml("sleepers", "sleep 600", tag, numprocesses=2)
                   + watcher_toml("chatty", counter_cmd(0, 100, pace=0.01), tag,
                                  stdout_stream={"kind": "file", "filename": str(out)}))
    ctl = start_controller(config)
    before = wait_settled(ctl)
    victim = before["sleepers"]["processes"][0]["pid"]
    survivor = before["sleepers"]["processes"][1]["pid"]
    chatty = before["chatty"]["processes"][0]["pid"]

    ctl.proc.send_signal(signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        done = ctl.cli("status", "--timeout", "2", timeout=15)
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
        # The fault itself: the controller stays stopped this long (no synchronisation).
        time.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
    finally:
        ctl.proc.send_signal(signal.SIGCONT)

    def respawned() -> bool:
        w = ctl.watchers()["sleepers"]
        pids = [p["pid"] for p in w["processes"]]
        return w["running"] == 2 and victim not in pids

    wait_until_sync(respawned, timeout=DEADLINE, what="the killed worker respawned")
    after = ctl.watchers()
    assert survivor in [p["pid"] for p in after["sleepers"]["processes"]]
    assert after["chatty"]["processes"][0]["pid"] == chatty
    assert after["sleepers"]["processes"][0]["restarts"] == 1
    assert_only_known_processes(tag, after)
    cli_quit(ctl)
    wait_none_tagged(tag)
    assert_contiguous(numbers(out))


# -- a full disk during rotation ---------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB tmpfs (root only), unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0700", "tmpfs",
                           str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_disk_full_during_rotation_pauses_output_and_loses_nothing(
        small_disk: Path, tag: str, start_controller: StartController,
        tmp_path: Path) -> None:
    """2 MB of numbered lines to a log rotated at 64 KiB (one backup) on a 96 KiB disk:
    the disk fills right after a rotation. The controller says so and holds the writer
    (its pipe full: it cannot finish); once the disk grows, output resumes and the two
    files hold the last lines written, without a gap."""
    log = small_disk / "out.log"
    total = 20_000  # lines of 100 bytes
    config = write(tmp_path / "ringleader.toml", watcher_toml(
        "writer", counter_cmd(total, 100), tag, respawn=False,
        stdout_stream={"kind": "file", "filename": str(log), "max_bytes": 65536,
                       "backup_count": 1}))
    ctl = start_controller(config)
    ctl.wait_log("No space left on device")
    assert "output paused" in ctl.log_text()
    # Held: the writer cannot have finished (2 MB > the disk and its 1 MiB pipe).
    assert ctl.watchers()["writer"]["processes"][0]["state"] == "running"
    assert [p.pid for p in tagged(tag)], "the writer is gone"

    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    ctl.wait_log("output resumed")
    wait_until_sync(lambda: ctl.watchers()["writer"]["processes"][0]["state"] == "exited",
                    timeout=DEADLINE, what="the writer to finish")
    cli_quit(ctl)  # the end of its output reaches the file before the controller exits
    ns = numbers(log.with_name("out.log.1"), log)
    assert_contiguous(ns, last=total - 1)
    assert len(ns) >= 65536 // 100  # the last file whole at least


# -- EMFILE --------------------------------------------------------------------------------

def _few_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_no_file_descriptor_left_then_fewer_processes(
        tmp_path: Path, tag: str, start_controller: StartController) -> None:
    """With 64 fds, 40 processes cannot all run (each costs the controller 3 fds): the
    controller keeps answering, says why the others cannot start and keeps retrying
    them; scaled down to what fits, every slot runs, and it starts new ones again.
    (Raising its limit instead would need CAP_SYS_RESOURCE, which a test cannot count
    on.)"""
    config = write(tmp_path / "ringleader.toml",
                   watcher_toml("w", "sleep 600", tag, numprocesses=2,
                                stdout_stream={"kind": "console"},
                                backoff={"max": 0.5, "free_retries": 0}))
    ctl = start_controller(config, preexec_fn=_few_fds)
    wait_settled(ctl)
    assert ctl.cli("incr", "w", "38").returncode == 0
    ctl.wait_log("Too many open files")
    status = ctl.watchers()["w"]
    assert status["numprocesses"] == 40 and 2 <= status["running"] < 40
    assert ctl.proc.poll() is None

    assert ctl.cli("decr", "w", "30").returncode == 0
    wait_until_sync(lambda: ctl.watchers()["w"]["running"] == 10, timeout=DEADLINE,
                    what="the 10 slots left running")
    assert ctl.cli("incr", "w", "2").returncode == 0
    wait_until_sync(lambda: ctl.watchers()["w"]["running"] == 12, timeout=DEADLINE,
                    what="new processes started again")
    assert_only_known_processes(tag, ctl.watchers())
    cli_quit(ctl)
    wait_none_tagged(tag)
