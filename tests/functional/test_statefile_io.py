"""The state file on disk: atomic and durable writes, and never a crash on a bad file."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from ringleader.state import file as statefile
from ringleader.state.file import RuntimeState, load_state, save_state

pytestmark = pytest.mark.timeout(60)


def state(n: int = 1, pad: int = 0) -> RuntimeState:
    return RuntimeState(source="/x/ringleader.toml", config_digest="d" * 64,
                        overrides={"web": {"numprocesses": n, "env": {"PAD": "x" * pad}}},
                        removed=["db"], stopped=["web"])


def temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_private_and_no_temp_left(tmp_path: Path) -> None:
    path = tmp_path / "ringleader.state"
    save_state(str(path), state(3))
    save_state(str(path), state(4))
    assert load_state(str(path)) == state(4)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert temps(tmp_path) == []
    assert msgspec.json.decode(path.read_bytes())["version"] == 1


def test_missing_file_is_no_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_state(str(tmp_path / "none.state")) is None
    assert caplog.records == []


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage", b'{"version": 1, "added": ',
                                     b'{"version": 1, "removed": "web"}', b"[1, 2]"],
                         ids=["empty", "binary", "truncated", "wrong-type", "not-an-object"])
def test_corrupt_file_is_ignored_with_a_warning(tmp_path: Path, content: bytes,
                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ringleader.state"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, "ringleader.statefile"):
        assert load_state(str(path)) is None
    assert len(caplog.records) == 1
    assert f"state file {path}: corrupt" in caplog.records[0].getMessage()


def test_unknown_version_is_ignored_with_a_warning(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ringleader.state"
    path.write_bytes(b'{"version": 2, "whatever": {"new": "layout"}}')
    with caplog.at_level(logging.WARNING, "ringleader.statefile"):
        assert load_state(str(path)) is None
    assert f"state file {path}: unknown version 2" in caplog.text


def test_unreadable_path_is_ignored_with_a_warning(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ringleader.state"
    path.mkdir()
    with caplog.at_level(logging.WARNING, "ringleader.statefile"):
        assert load_state(str(path)) is None
    assert f"state file {path}: cannot read it" in caplog.text


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(statefile.os, "fsync", fsync)
    save_state(str(tmp_path / "s.state"), state())
    assert synced == ["file", "dir"]


def test_failed_save_raises_and_leaves_the_good_file(tmp_path: Path) -> None:
    path = tmp_path / "ringleader.state"
    save_state(str(path), state(1))
    with pytest.raises(OSError):
        save_state(str(tmp_path / "no-such-dir" / "x.state"), state(2))
    # A directory where the file should go: the rename fails after the temp was written.
    target = tmp_path / "blocked.state"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        save_state(str(target), state(2))
    assert temps(tmp_path) == []
    assert load_state(str(path)) == state(1)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=10)


def test_disk_full_raises_and_leaves_the_good_file(tiny_fs: Path) -> None:
    path = tiny_fs / "ringleader.state"
    save_state(str(path), state(1))
    with pytest.raises(OSError) as err:
        save_state(str(path), state(2, pad=256 * 1024))
    assert "No space left" in str(err.value)
    assert temps(tiny_fs) == []
    assert load_state(str(path)) == state(1)


WRITER = textwrap.dedent("""
    import sys
    from ringleader.state.file import RuntimeState, save_state
    path = sys.argv[1]
    def state(n, pad):
        return RuntimeState(overrides={"web": {"numprocesses": n, "env": {"PAD": "x" * pad}}})
    save_state(path, state(0, 0))
    print("saved", flush=True)
    n = 1
    while True:  # alternately big and small states, until killed
        save_state(path, state(n, 2_000_000 if n % 2 else 10))
        print("saved", flush=True)
        n += 1
""")


def test_sigkill_mid_write_never_leaves_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "ringleader.state"
    for i in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            for _ in range(1 + i % 4):  # killed at a different point each round
                assert proc.stdout.readline() == b"saved\n"
            proc.kill()
        finally:
            proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        got = load_state(str(path))  # also removes the killed save's temp file
        assert got is not None
        assert "web" in got.overrides
        assert temps(tmp_path) == []


def test_writer_coalesces_saves_off_the_loop(tmp_path: Path) -> None:
    import asyncio

    from ringleader.config.load import config_from_dicts
    from ringleader.state.file import StateWriter
    from ringleader.state.recorder import StateRecorder
    from ringleader.testing import run_async

    path = tmp_path / "ringleader.state"
    recorder = StateRecorder(config_from_dicts([{"name": "web", "cmd": "sleep 1"}]))
    writer = StateWriter(str(path), recorder)

    async def main() -> None:
        for n in range(2, 50):
            recorder.changed("web", {"numprocesses": n})
            writer.schedule()
            await asyncio.sleep(0)
        await writer.flush()

    run_async(main(), timeout=30)
    assert not recorder.dirty
    assert load_state(str(path)) == recorder.snapshot()
    assert recorder.snapshot().overrides == {"web": {"numprocesses": 49}}


def test_writer_keeps_the_change_when_a_save_fails(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from ringleader.config.load import config_from_dicts
    from ringleader.state.file import StateWriter
    from ringleader.state.recorder import StateRecorder
    from ringleader.testing import run_async

    recorder = StateRecorder(config_from_dicts([{"name": "web", "cmd": "sleep 1"}]))
    writer = StateWriter(str(tmp_path / "missing-dir" / "s.state"), recorder)

    async def main() -> None:
        recorder.changed("web", {"numprocesses": 3})
        writer.schedule()
        await writer.flush()

    with caplog.at_level(logging.ERROR, "ringleader.statefile"):
        run_async(main(), timeout=30)
    assert recorder.dirty
    assert "cannot save the state file" in caplog.text


def test_saved_returns_once_every_change_recorded_so_far_is_on_disk(tmp_path: Path) -> None:
    """What the API awaits before it answers a runtime change: a change made while a save
    is in progress is in the file once saved() returns (the save loops while dirty)."""
    import asyncio

    from ringleader.config.load import config_from_dicts
    from ringleader.state.file import StateWriter
    from ringleader.state.recorder import StateRecorder
    from ringleader.testing import run_async

    path = tmp_path / "ringleader.state"
    recorder = StateRecorder(config_from_dicts([{"name": "web", "cmd": "sleep 1"}]))
    writer = StateWriter(str(path), recorder)

    async def main() -> None:
        await writer.saved()  # nothing recorded: returns at once
        recorder.changed("web", {"numprocesses": 2})
        writer.schedule()
        await asyncio.sleep(0)  # its save starts
        recorder.changed("web", {"numprocesses": 3})
        writer.schedule()  # a save is running: it will pick this up
        await writer.saved()
        state = load_state(str(path))
        assert state is not None and state.overrides == {"web": {"numprocesses": 3}}

    run_async(main(), timeout=30)
