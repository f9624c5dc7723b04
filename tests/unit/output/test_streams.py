"""Pure parts of output capture: rollover arithmetic, backup naming, line framing, pipes."""

from __future__ import annotations

import fcntl
import logging.handlers
import os
import random

import pytest

from ringleader.output import rotation
from ringleader.output.framing import LineFramer
from ringleader.output.streams import PIPE_SIZE, make_pipe

WHENS = ["S", "M", "H", "D", "MIDNIGHT", *(f"W{d}" for d in range(7))]


def _logging_rollover(now: int, when: str, utc: bool) -> float:
    handler = logging.handlers.TimedRotatingFileHandler(
        os.devnull, when=when, interval=1, utc=utc, delay=True)
    try:
        return float(handler.computeRollover(now))
    finally:
        handler.close()


@pytest.mark.parametrize("utc", [True, False])
@pytest.mark.parametrize("when", WHENS)
def test_rollover_matches_logging(when: str, utc: bool) -> None:
    rng = random.Random(when)
    # Whole seconds spread over years (DST changes included), plus exact midnights.
    samples = [rng.randrange(1_000_000_000, 2_000_000_000) for _ in range(300)]
    samples += [1_700_006_400, 1_700_006_399, 1_711_846_800, 1_729_990_800]
    for now in samples:
        assert rotation.compute_rollover(now, when, 1, utc) == _logging_rollover(now, when, utc)


def test_rollover_midnight_utc_is_next_midnight_plus_extra_days() -> None:
    now = 1_700_000_000.75  # 2023-11-14 22:13:20.75 UTC
    midnight = 1_700_006_400.0  # 2023-11-15 00:00 UTC
    assert rotation.compute_rollover(now, "MIDNIGHT", 1, True) == midnight
    assert rotation.compute_rollover(now, "MIDNIGHT", 3, True) == midnight + 2 * 86400
    # W2 (Wednesday): 2023-11-15 is a Wednesday, so the rollover is the midnight ending it.
    assert rotation.compute_rollover(now, "W2", 1, True) == midnight + 86400
    assert rotation.compute_rollover(now, "H", 2, True) == now + 7200


def test_next_rollover_is_always_in_the_future() -> None:
    for when in WHENS:
        for now in (0.0, 1_700_006_400.0, 1_700_006_399.999):
            assert rotation.next_rollover(now, when, 1, True) > now


def test_unknown_when_is_refused() -> None:
    with pytest.raises(ValueError, match="rotate_when"):
        rotation.compute_rollover(0, "Y", 1, True)


def test_timed_backup_names_follow_logging_suffixes() -> None:
    t = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert rotation.timed_backup_name("/l/a.log", "S", t, True) == "/l/a.log.2023-11-14_22-13-20"
    assert rotation.timed_backup_name("/l/a.log", "M", t, True) == "/l/a.log.2023-11-14_22-13"
    assert rotation.timed_backup_name("/l/a.log", "H", t, True) == "/l/a.log.2023-11-14_22"
    for when in ("D", "MIDNIGHT", "W3"):
        assert rotation.timed_backup_name("a", when, t, True) == "a.2023-11-14"


def test_timed_backups_to_delete_keeps_the_newest() -> None:
    names = ["a.log", "a.log.1", "a.log.2023-11-12", "a.log.2023-11-14", "a.log.2023-11-13",
             "a.log.2023-11-14.1", "b.log.2023-01-01", "a.log.2023-11-1x"]
    assert rotation.timed_backups_to_delete("a.log", names, "D", 2) == [
        "a.log.2023-11-12", "a.log.2023-11-13"]
    assert rotation.timed_backups_to_delete("a.log", names, "D", 0) == []
    assert rotation.timed_backups_to_delete("a.log", names, "H", 1) == []


def test_size_rotation_moves_shift_oldest_first() -> None:
    assert rotation.size_rotation_moves("x", 3) == [("x.2", "x.3"), ("x.1", "x.2"), ("x", "x.1")]
    assert rotation.size_rotation_moves("x", 1) == [("x", "x.1")]


def test_size_split_keeps_lines_whole() -> None:
    buf = b"aaaa\nbbbb\ncccc"
    assert rotation.size_split(buf, 0, len(buf), 100, False) == len(buf)  # fits
    assert rotation.size_split(buf, 0, len(buf), 12, False) == 10  # up to the last newline
    assert rotation.size_split(buf, 5, len(buf), 4, False) == 0  # no line end fits: roll first
    assert rotation.size_split(buf, 5, len(buf), 4, True) == 4  # empty file: cut at budget
    assert rotation.size_split(buf, 0, len(buf), 0, False) == 0


def test_framer_prefixes_every_line_start() -> None:
    f = LineFramer()
    assert f.feed(b"one\ntwo\n", b"> ") == b"> one\n> two\n"
    assert f.feed(b"thr", b"> ") == b""  # held: a partial line
    assert f.has_partial
    assert f.feed(b"ee\nfo", b"# ") == b"> three\n"  # prefix taken when the line started
    assert f.flush() == b"# fo"
    assert f.feed(b"ur\n", b"> ") == b"ur\n"  # continuation of a flushed line: no prefix
    assert f.feed(b"\n\n", b"> ") == b"> \n> \n"


def test_framer_caps_a_long_line_and_stays_bounded() -> None:
    f = LineFramer(cap=1000)
    out = [f.feed(b"x" * 300, b"P") for _ in range(10)]
    assert all(len(o) <= 1300 for o in out)
    out.append(f.feed(b"y\nz", b"P"))
    out.append(f.flush())
    assert b"".join(out) == b"P" + b"x" * 3000 + b"y\nPz"


def test_framer_output_does_not_depend_on_chunking() -> None:
    rng = random.Random(7)
    data = bytes(rng.choice(b"ab\n\x00\xff") for _ in range(5000))
    expected = LineFramer(cap=1 << 30)
    whole = expected.feed(data, b"|") + expected.flush()
    for _ in range(20):
        f, out, pos = LineFramer(cap=1 << 30), [], 0
        while pos < len(data):
            step = rng.randint(1, 50)
            out.append(f.feed(data[pos : pos + step], b"|"))
            pos += step
        out.append(f.flush())
        assert b"".join(out) == whole
    assert whole.replace(b"\n|", b"\n") == b"|" + data


def test_make_pipe_flags_and_size() -> None:
    r, w = make_pipe()
    try:
        assert not os.get_blocking(r)
        assert os.get_blocking(w)
        assert not os.get_inheritable(r) and not os.get_inheritable(w)
        size = fcntl.fcntl(r, fcntl.F_GETPIPE_SZ)
        assert size == PIPE_SIZE or os.geteuid() != 0  # best effort for unprivileged users
    finally:
        os.close(r)
        os.close(w)

