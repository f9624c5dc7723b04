"""`logs --since WHEN`: a duration back from now or a point in time, as a Unix time.

The controller filters on the wall time each line was read at; the console turns what the
operator typed into that number (the controller's clock is assumed to agree with ours).
"""

from __future__ import annotations

import re
import time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+?", re.ASCII)
_WHOLE_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$", re.ASCII)
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$", re.ASCII)
EXPECTED = ("expected a duration (90s, 10m, 1h30m, 2d) or a time (14:05, 14:05:30, "
            "2026-11-28T14:05:30, local time unless it has an offset)")


def parse_since(text: str, now: float | None = None) -> float:
    """The Unix time `text` names. Raises ValueError (saying what is expected)."""
    now = time.time() if now is None else now
    spec = text.strip().lower()
    if _WHOLE_DURATION.match(spec):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(spec))
        return now - seconds
    match = _TIME_OF_DAY.match(spec)
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"no such time of day; {EXPECTED}")
        day = time.localtime(now)
        for back in (0, 1):  # a time still to come today: yesterday's (mktime normalises)
            at = time.mktime((day.tm_year, day.tm_mon, day.tm_mday - back, hour, minute,
                              second, 0, 0, -1))
            if at <= now:
                break
        return at
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(EXPECTED) from None
    return moment.timestamp()  # naive: local time, as the other forms
