"""A foreign config file is read only when no other user could have chosen its content."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ringleader.config.dialects.files import MAX_CONFIG_BYTES, UntrustedFile, read_config_text


def test_reads_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "Procfile"
    path.write_text("web: x ✓\n")
    assert read_config_text(str(path)) == "web: x ✓\n"


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: os.symlink("/etc/hostname", p), "a symbolic link (to /etc/hostname)"),
    (lambda p: os.mkfifo(p), "not a regular file"),  # and reading does not block
    (lambda p: os.mkdir(p), "not a regular file"),
    (lambda p: (p.write_text("x"), p.chmod(0o646)), "writable by every user (mode 0646)"),
    (lambda p: p.write_bytes(b"\xff\xfe"), "not UTF-8 text"),
    (lambda p: p.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1)), "more than the"),
])
def test_refused(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "supervisord.conf"
    make(path)
    with pytest.raises(UntrustedFile, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_config_text(str(path))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_another_users_file_is_refused_and_a_group_writable_one_when_root(
        tmp_path: Path) -> None:
    path = tmp_path / "supervisord.conf"
    path.write_text("[supervisord]\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(UntrustedFile, match="owned by uid 65534"):
        read_config_text(str(path))
    os.chown(path, 0, 65534)
    path.chmod(0o664)
    with pytest.raises(UntrustedFile, match="writable by group 65534"):
        read_config_text(str(path))
    os.chown(path, 0, 0)  # root's own group: fine
    assert read_config_text(str(path)) == "[supervisord]\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="checks the non-root rule from root, "
                    "with setpriv")
def test_an_unprivileged_user_reads_its_own_group_writable_file() -> None:
    top = Path(tempfile.mkdtemp(prefix="rl-files-"))  # pytest's tmp_path is 0700 root's
    try:
        top.chmod(0o755)
        path = top / "Procfile"
        path.write_text("web: x\n")
        os.chown(path, 65534, 65534)
        path.chmod(0o664)
        code = ("from ringleader.config.dialects.files import read_config_text as r; "
                f"print(r({str(path)!r}), end='')")
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=30, check=False)
        assert (out.returncode, out.stdout) == (0, "web: x\n"), out.stderr
    finally:
        shutil.rmtree(top)
