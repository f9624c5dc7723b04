"""The controller's log file (logs.LogFile) on the real filesystem: size rotation, a file
moved away, a device, a planted link."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.logs import LogFile


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("ringleader.test-own-log")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def _use(log: logging.Logger, handler: logging.Handler) -> None:
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)


def test_size_rotation_keeps_whole_lines_and_n_backups(tmp_path: Path,
                                                       logger: logging.Logger) -> None:
    path = tmp_path / "ctl.log"
    _use(logger, LogFile(str(path), max_bytes=100, backups=2))
    for n in range(40):
        logger.info("line %02d %s", n, "x" * 20)  # 29 bytes: 3 per file
    assert path.read_text().splitlines() == [f"line {n:02d} {'x' * 20}" for n in (39,)]
    assert (tmp_path / "ctl.log.1").read_text().splitlines()[-1].startswith("line 38")
    assert (tmp_path / "ctl.log.2").exists() and not (tmp_path / "ctl.log.3").exists()
    for name in ("ctl.log", "ctl.log.1", "ctl.log.2"):
        assert (tmp_path / name).stat().st_size <= 100


def test_no_backups_means_no_rotation(tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "ctl.log"
    _use(logger, LogFile(str(path), max_bytes=10, backups=0))
    for n in range(5):
        logger.info("line %d", n)
    assert len(path.read_text().splitlines()) == 5
    assert not (tmp_path / "ctl.log.1").exists()


def test_moved_away_before_a_rotation_is_not_renamed_again(
        tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "ctl.log"
    _use(logger, LogFile(str(path), max_bytes=30, backups=3))
    logger.info("first line, 20 bytes")
    os.rename(path, tmp_path / "elsewhere.log")
    logger.info("second line, will rotate")  # the path is not ours: a new file, no renames
    assert path.read_text() == "second line, will rotate\n"
    assert not (tmp_path / "ctl.log.1").exists()


def test_a_device_is_never_rotated(logger: logging.Logger) -> None:
    _use(logger, LogFile("/dev/null", max_bytes=1, backups=1))
    for _ in range(3):
        logger.info("into the void")
    assert Path("/dev/null").is_char_device()
    assert not Path("/dev/null.1").exists()


def test_reopen_refuses_a_planted_link_and_keeps_the_old_file(
        tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "ctl.log"
    handler = LogFile(str(path))
    _use(logger, handler)
    os.rename(path, tmp_path / "ctl.log.1")
    (tmp_path / "target").write_text("")
    path.symlink_to(tmp_path / "target")
    with pytest.raises(Exception, match="link"):
        handler.reopen()
    logger.info("still logged")
    assert (tmp_path / "ctl.log.1").read_text() == "still logged\n"
    assert (tmp_path / "target").read_text() == ""
