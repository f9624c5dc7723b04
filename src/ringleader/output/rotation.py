"""Pure log-rotation arithmetic: when to roll over and what to name the backups.

No I/O here, so it is unit-tested without sleeping or touching files. The conventions are those of
``logging.handlers.RotatingFileHandler`` (``name.1`` .. ``name.N``) and
``TimedRotatingFileHandler`` (``name.<strftime suffix>``), so existing log tooling keeps working.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

_DAY = 86400
# when -> (seconds per interval unit, strftime suffix of a backup, regex matching such a suffix)
_WHEN: dict[str, tuple[int, str, str]] = {
    "S": (1, "%Y-%m-%d_%H-%M-%S", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"),
    "M": (60, "%Y-%m-%d_%H-%M", r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}"),
    "H": (3600, "%Y-%m-%d_%H", r"\d{4}-\d{2}-\d{2}_\d{2}"),
    "D": (_DAY, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    "MIDNIGHT": (_DAY, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    "W": (7 * _DAY, "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
}


def _spec(when: str) -> tuple[int, str, str]:
    key = "W" if when.startswith("W") else when
    try:
        return _WHEN[key]
    except KeyError:
        raise ValueError(f"unknown rotate_when {when!r}") from None


def interval_seconds(when: str, interval: int) -> int:
    """Length of one rotation period in seconds."""
    return _spec(when)[0] * interval


def compute_rollover(now: float, when: str, interval: int, utc: bool) -> float:
    """Time of the next rollover after ``now``.

    Mirrors ``TimedRotatingFileHandler.computeRollover``: S/M/H/D count from ``now``; MIDNIGHT and
    Wn roll at the next midnight (of weekday n for Wn). Unlike logging (which ignores it there),
    an interval > 1 for MIDNIGHT/Wn adds whole days/weeks.
    """
    unit = _spec(when)[0]
    if when not in ("MIDNIGHT",) and not when.startswith("W"):
        return now + unit * interval
    now_i = int(now)  # logging works on whole seconds; keeps midnight exact
    t = time.gmtime(now_i) if utc else time.localtime(now_i)
    result = now_i + _DAY - ((t.tm_hour * 60 + t.tm_min) * 60 + t.tm_sec)
    if when.startswith("W"):
        day, dow = t.tm_wday, int(when[1:])
        if day != dow:
            wait = dow - day if day < dow else 6 - day + dow + 1
            new = result + wait * _DAY
            if not utc:
                # Crossing a DST change: keep the rollover on local midnight (as logging does).
                dst_now, dst_then = t.tm_isdst, time.localtime(new).tm_isdst
                if dst_now != dst_then:
                    new += -3600 if not dst_now else 3600
            result = new
    return float(result + (interval - 1) * unit)


def next_rollover(now: float, when: str, interval: int, utc: bool) -> float:
    """Like compute_rollover, but never at or before ``now`` (a clock jumping back is harmless)."""
    at = compute_rollover(now, when, interval, utc)
    step = interval_seconds(when, interval)
    while at <= now:
        at += step
    return at


def timed_backup_name(base: str, when: str, period_start: float, utc: bool) -> str:
    """Name a time-rotated backup after the start of the period it holds (logging's rule)."""
    tt = time.gmtime(period_start) if utc else time.localtime(period_start)
    return f"{base}.{time.strftime(_spec(when)[1], tt)}"


def timed_backups_to_delete(
    base_name: str, names: Iterable[str], when: str, keep: int
) -> list[str]:
    """Which of ``names`` (entries of the log's directory) are time backups beyond ``keep``.

    ``keep == 0`` keeps everything, like logging's backupCount=0. A trailing ``.N`` is a
    disambiguator added when two rollovers fall in one suffix period.
    """
    if keep <= 0:
        return []
    pattern = re.compile(re.escape(base_name) + r"\.(" + _spec(when)[2] + r")(?:\.(\d+))?$")
    found: list[tuple[str, int, str]] = []
    for name in names:
        m = pattern.match(name)
        if m:
            found.append((m.group(1), int(m.group(2) or 0), name))
    found.sort()
    return [name for _, _, name in found[: max(0, len(found) - keep)]]


def size_rotation_moves(base: str, backup_count: int) -> list[tuple[str, str]]:
    """The renames of a size rollover, oldest first: name.(N-1)->name.N, ..., name->name.1.

    The first move overwrites name.N, which drops the oldest backup (RotatingFileHandler's rule).
    """
    moves = [(f"{base}.{i}", f"{base}.{i + 1}") for i in range(backup_count - 1, 0, -1)]
    moves.append((base, f"{base}.1"))
    return moves


def size_split(buf: bytes, start: int, end: int, room: int, file_empty: bool) -> int:
    """How many bytes of ``buf[start:end]`` to write before a size rollover; 0 = roll over first.

    Cuts after the last newline that fits so lines stay whole within one file; a line longer
    than the whole budget of an empty file is cut at the budget (files never exceed max_bytes).
    """
    if end - start <= room:
        return end - start
    nl = buf.rfind(b"\n", start, start + room) if room > 0 else -1
    if nl >= 0:
        return nl + 1 - start
    return room if file_empty else 0
