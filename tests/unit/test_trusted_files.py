"""ringleader.trusted_files: what the controller opens with its privileges is what it
claims to be, and nobody else chose it."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.trusted_files import (
    UntrustedFile,
    check_file,
    default_location,
    make_private_dirs,
    open_folder,
    open_trusted,
    read_trusted,
    runtime_dir,
)

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A folder like /tmp (pytest's tmp_path itself sits in a private folder)."""
    path = Path(tempfile.mkdtemp(prefix="rl-trust-"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _refused(reason: str, path: Path, *args: object, **kwargs: object) -> UntrustedFile:
    with pytest.raises(UntrustedFile) as info:
        os.close(open_trusted(str(path), *args, **kwargs))  # type: ignore[arg-type]
    assert reason in str(info.value), str(info.value)
    return info.value


def test_reads_and_appends_to_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    fd = open_trusted(str(path), "a")
    os.write(fd, b"y")
    os.close(fd)
    assert read_trusted(str(path), limit=10) == b"xy"


def test_create_makes_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "new"
    os.close(open_trusted(str(path), "a", create=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_symbolic_link_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("secret")
    link = tmp_path / "link"
    link.symlink_to(target)
    err = _refused("a symbolic link (to", link, "a", create=True)
    assert err.path == str(link)
    assert target.read_text() == "secret"


def test_fifo_neither_blocks_nor_is_used(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _refused("FIFO (named pipe), not a regular file", fifo, "w")
    _refused("FIFO (named pipe), not a regular file", fifo, "r")


def test_character_device_only_where_allowed() -> None:
    _refused("a character device, not a regular file", Path("/dev/null"), "w",
             shared_dir_ok=True)
    os.close(open_trusted("/dev/null", "w", devices=True, shared_dir_ok=True))


def test_folder_and_missing_file(tmp_path: Path) -> None:
    _refused("no such file", tmp_path / "nope")
    (tmp_path / "d").mkdir()
    _refused("not a regular file", tmp_path / "d")


@pytest.mark.parametrize(("mode", "reason"), [(0o620, "writable by group"),
                                              (0o602, "writable by every user")])
def test_file_writable_by_others_is_refused(tmp_path: Path, mode: int, reason: str) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(mode)
    _refused(reason, path)


def test_hard_link_is_refused_for_writing_only(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    os.link(path, tmp_path / "other-name")
    _refused("2 hard links", path, "a")
    assert read_trusted(str(path), limit=10) == b"x"


@needs_root
def test_owner_rules(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    os.chown(path, NOBODY, NOBODY)
    _refused("owned by uid 65534", path)
    _refused("owned by uid 65534", path, owner="self_or_root")


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    with pytest.raises(UntrustedFile, match="11 bytes, more than the 10"):
        read_trusted(str(path), limit=10)


def test_shared_folder_only_when_named_explicitly(shared: Path) -> None:
    path = shared / "f"
    _refused("a folder other users can write to (mode 1777", path, "a", create=True)
    assert not path.exists()
    os.close(open_trusted(str(path), "a", create=True, shared_dir_ok=True))
    assert path.exists()


@needs_root
def test_symbolic_link_to_a_folder_planted_by_another_user(shared: Path,
                                                           tmp_path: Path) -> None:
    """/tmp/logs -> /etc, made by another user: never followed, also for a file the
    operator named (a hard check that O_NOFOLLOW on the last component alone misses)."""
    victim_dir = tmp_path / "etc"
    victim_dir.mkdir()
    subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    "ln", "-s", str(victim_dir), str(shared / "logs")], check=True)
    err = _refused("a symbolic link owned by uid 65534", shared / "logs" / "app.log", "a",
                   create=True, shared_dir_ok=True)
    assert err.path == str(shared / "logs")
    assert not (victim_dir / "app.log").exists()


def test_trusted_symbolic_link_to_a_folder_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    os.close(open_trusted(str(tmp_path / "alias" / "f"), "a", create=True))
    assert (real / "f").exists()


def test_trusted_symbolic_link_in_a_shared_folder_without_sticky_bit(tmp_path: Path) -> None:
    top = tmp_path / "open"
    top.mkdir()
    top.chmod(0o777)
    (top / "alias").symlink_to(tmp_path)
    _refused("a symbolic link in a folder others can write to", top / "alias" / "f",
             shared_dir_ok=True)


def test_missing_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "a" / "b" / "f"
    err = _refused("no such folder", path, "a", create=True)
    assert err.path == str(tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="ringleader.files"):
        os.close(open_trusted(str(path), "a", create=True, make_dirs=True))
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert f"created folder {folder} (mode 0700)" in caplog.text
    make_private_dirs(str(tmp_path / "a" / "b"))  # already there: nothing to do


def test_a_file_where_a_folder_is_expected(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UntrustedFile, match="not a folder"):
        make_private_dirs(str(tmp_path / "file" / "sub"))


def test_open_folder_gives_a_descriptor_to_write_through(tmp_path: Path) -> None:
    fd = open_folder(str(tmp_path))
    try:
        os.fsync(fd)  # a real descriptor, not O_PATH: the state file's rename needs it
        assert sorted(os.listdir(fd)) == []
    finally:
        os.close(fd)


def test_check_file_is_pure_and_says_why() -> None:
    st = os.stat_result((stat.S_IFREG | 0o600, 0, 0, 1, os.geteuid(), 0, 0, 0, 0, 0))
    assert check_file(st) is None
    fifo = os.stat_result((stat.S_IFIFO | 0o600, 0, 0, 1, os.geteuid(), 0, 0, 0, 0, 0))
    assert check_file(fifo) == "a FIFO (named pipe), not a regular file"
    linked = os.stat_result((stat.S_IFREG | 0o600, 0, 0, 3, os.geteuid(), 0, 0, 0, 0, 0))
    assert check_file(linked) is None
    assert "3 hard links" in (check_file(linked, writing=True) or "")


def test_default_location(tmp_path: Path, shared: Path) -> None:
    assert default_location(str(tmp_path), "ringleader.state", key="x") == str(
        tmp_path / "ringleader.state")
    elsewhere = default_location(str(shared), "ringleader.state", key=str(shared / "c.toml"))
    assert os.path.dirname(elsewhere) == runtime_dir()
    assert os.path.basename(elsewhere).startswith("ringleader-")
    assert elsewhere.endswith(".state")
    other = default_location(str(shared), "ringleader.state", key=str(shared / "d.toml"))
    assert other != elsewhere  # two controllers never share one
    audit = os.path.basename(default_location(None, "ringleader-audit.log", key="/x.sock"))
    assert audit.startswith("ringleader-audit-") and audit.endswith(".log")


def test_runtime_dir_of_a_user() -> None:
    code = ("import os; os.environ['XDG_RUNTIME_DIR'] = '/run/user/7'; "
            "from ringleader.trusted_files import runtime_dir; print(runtime_dir())")
    if os.geteuid() == 0:
        out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                              "--clear-groups", sys.executable, "-c", code],
                             capture_output=True, text=True, check=True, cwd="/")
        assert out.stdout.strip() == "/run/user/7/ringleader"
        assert runtime_dir() == "/run/ringleader"


@needs_root
def test_default_location_of_a_user_next_to_roots_config(tmp_path: Path) -> None:
    """A controller running as a user, its config in a root-owned folder it cannot write:
    its files go to its runtime folder, not where every save would fail."""
    folder = Path(tempfile.mkdtemp(prefix="rl-conf-"))
    try:
        folder.chmod(0o755)
        code = ("import os; os.environ['XDG_RUNTIME_DIR'] = '/run/user/7'; "
                "from ringleader.trusted_files import default_location as d; "
                f"print(d({str(folder)!r}, 'ringleader.state', key='k'))")
        out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                              "--clear-groups", sys.executable, "-c", code],
                             capture_output=True, text=True, check=True, cwd="/")
        assert out.stdout.startswith("/run/user/7/ringleader/ringleader-"), out.stdout
    finally:
        shutil.rmtree(folder)
