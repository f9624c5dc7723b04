"""The audit log file: it follows rotation, it says before a change whether the change can
be recorded, and it is never written through a link planted where it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.api.audit import AuditLog
from ringleader.api.http import Identity, Peer, Request, Response
from ringleader.trusted_files import UntrustedFile

REQUEST = Request("POST", "/v1/watchers/w/incr", {}, {}, b'{"count": 1}',
                  Peer("unix", 0, 0, 1, "unix:/x", None), Identity("uid:0(root)", "admin"))


def _ops(path: Path) -> list[str]:
    return [json.loads(line)["op"] for line in path.read_text().splitlines()]


def test_follows_the_file_when_it_is_deleted_or_renamed(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(str(path))
    try:
        audit.record(REQUEST, "incr", "w", Response(200))
        path.unlink()
        assert audit.problem(REQUEST) is None  # opened again, before the change
        audit.record(REQUEST, "decr", "w", Response(200))
        assert _ops(path) == ["decr"]
        path.rename(tmp_path / "audit.log.1")
        audit.record(REQUEST, "incr", "w", Response(200))
        assert _ops(path) == ["incr"] and _ops(tmp_path / "audit.log.1") == ["decr"]
    finally:
        audit.close()


def test_a_link_planted_after_a_rotation_is_never_followed(tmp_path: Path) -> None:
    path, victim = tmp_path / "audit.log", tmp_path / "victim"
    victim.write_bytes(b"secret\n")
    audit = AuditLog(str(path))
    try:
        path.unlink()
        path.symlink_to(victim)
        problem = audit.problem(REQUEST)
        assert problem is not None and "a symbolic link" in problem
        audit.record(REQUEST, "incr", "w", Response(503))
        assert victim.read_bytes() == b"secret\n"
        path.unlink()
        audit.reopen()  # SIGHUP, once the path is fixed
        assert audit.problem(REQUEST) is None
    finally:
        audit.close()


def test_refused_at_start_when_untrusted(tmp_path: Path) -> None:
    (tmp_path / "audit.log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UntrustedFile, match="a symbolic link"):
        AuditLog(str(tmp_path / "audit.log"))


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                           str(mnt)], capture_output=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True, timeout=10)


def test_a_full_disk_is_said_before_the_change_and_passes(tiny_fs: Path) -> None:
    audit = AuditLog(str(tiny_fs / "audit.log"))
    filler = tiny_fs / "filler"
    try:
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        assert audit.problem(REQUEST) == "no space left on its device"
        audit.record(REQUEST, "incr", "w", Response(503))  # fails: not sticky
        filler.unlink()
        assert audit.problem(REQUEST) is None
    finally:
        audit.close()
