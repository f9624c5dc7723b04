"""proc.procfs on a fake /proc tree: stat parsing, group members, process identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringleader.proc.procfs import (
    boot_time,
    group_members,
    parse_stat,
    read_stat,
    started_before,
)

TICK = os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, comm: str = "sleep", state: str = "S", ppid: int = 1,
              pgrp: int | None = None, start_ticks: int = 100) -> str:
    pgrp = pid if pgrp is None else pgrp
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itrealvalue starttime ...
    rest = [state, ppid, pgrp, pgrp, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0,
            start_ticks, 1000, 10]
    return f"{pid} ({comm}) " + " ".join(map(str, rest)) + "\n"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    (tmp_path / "stat").write_text("cpu 1 2 3\nbtime 1000000\nprocesses 5\n")
    (tmp_path / "self").mkdir()  # not a pid: ignored
    return tmp_path


def add(proc: Path, line: str) -> None:
    pid = line.split()[0]
    (proc / pid).mkdir()
    (proc / pid / "stat").write_text(line)


def test_parse_stat_reads_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(stat_line(42, comm="a) (b c", state="Z", ppid=7, pgrp=40,
                                start_ticks=12345))
    assert stat is not None
    assert (stat.pid, stat.state, stat.ppid, stat.pgrp, stat.start_ticks) == \
        (42, "Z", 7, 40, 12345)
    assert stat.is_zombie


@pytest.mark.parametrize("text", ["", "garbage", "12 (x) S 1 2", "x (y) " + "a " * 30])
def test_parse_stat_refuses_what_is_not_a_stat_line(text: str) -> None:
    assert parse_stat(text) is None


def test_group_members_are_the_live_processes_of_that_group(proc: Path) -> None:
    add(proc, stat_line(10))                       # the leader
    add(proc, stat_line(11, pgrp=10))              # its child
    add(proc, stat_line(12, pgrp=10, state="Z"))   # a zombie: not a live member
    add(proc, stat_line(13, pgrp=99))              # another group
    (proc / "14").mkdir()                          # vanished meanwhile: no stat file
    assert group_members(10, str(proc)) == [10, 11]
    assert group_members(77, str(proc)) == []
    assert read_stat(14, str(proc)) is None


def test_started_before_tells_a_process_from_a_later_one_with_its_pid(proc: Path) -> None:
    assert boot_time(str(proc)) == 1_000_000
    add(proc, stat_line(20, start_ticks=100 * TICK))  # started at boot + 100 s
    assert started_before(20, 1_000_100, str(proc))
    assert started_before(20, 1_000_200, str(proc))
    assert not started_before(20, 1_000_050, str(proc))  # the pid was reused after that moment
    assert not started_before(21, 1_000_200, str(proc))  # no such process


def test_a_zombie_is_not_a_live_owner(proc: Path) -> None:
    add(proc, stat_line(30, state="Z", start_ticks=1))
    assert not started_before(30, 2_000_000, str(proc))
