"""Line framing of captured output: a prefix (``web.3 | ``, a timestamp) at every line start,
and what goes in it: the console's colours, the timestamp."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Final, final

# circus FancyStdoutStream's colour names
NAMED_COLORS: Final = {"black": "30", "red": "31", "green": "32", "yellow": "33", "blue": "34",
                       "magenta": "35", "cyan": "36", "white": "37"}
# honcho's palette: cycled by watcher and wid
COLORS: Final = ("36", "33", "32", "35", "31", "34", "1;36", "1;33", "1;32", "1;35", "1;31",
                 "1;34")


@final
class LineFramer:
    """Puts a prefix at the start of every line of a byte stream fed in arbitrary chunks.

    A trailing partial line is held back (so lines of several processes interleave whole) but
    only up to ``cap`` bytes; beyond that it is let through as is and its continuation gets no
    prefix. Memory stays bounded whatever the line length.
    """

    __slots__ = ("_at_start", "_cap", "_partial")

    def __init__(self, cap: int = 64 * 1024) -> None:
        self._cap = cap
        self._partial = bytearray()
        self._at_start = True  # the next byte begins a line

    @property
    def has_partial(self) -> bool:
        return bool(self._partial)

    def feed(self, data: bytes, prefix: bytes) -> bytes:
        out: list[bytes] = []
        nl = data.rfind(b"\n")
        if nl >= 0:
            if self._partial:
                out.append(bytes(self._partial))
                self._partial.clear()
            elif self._at_start:
                out.append(prefix)
            # One C-level replace per chunk: every line in a chunk arrived at the same time,
            # so they share one prefix (and one timestamp).
            out.append(data[:nl].replace(b"\n", b"\n" + prefix) if prefix else data[:nl])
            out.append(b"\n")
            self._at_start = True
            tail = data[nl + 1 :]
        else:
            tail = data
        if tail:
            if self._at_start:
                self._partial += prefix
                self._at_start = False
            self._partial += tail
            if len(self._partial) >= self._cap:
                out.append(bytes(self._partial))
                self._partial.clear()
        return b"".join(out)

    def flush(self) -> bytes:
        """Let the held partial line through (at EOF, or when it waited too long)."""
        data = bytes(self._partial)
        self._partial.clear()
        return data


@final
class Stamper:
    """strftime of the injected clock, formatted at most once per second."""

    __slots__ = ("_clock", "_fmt", "_sec", "_utc", "_value")

    def __init__(self, fmt: str, utc: bool, clock: Callable[[], float]) -> None:
        self._fmt, self._utc, self._clock = fmt, utc, clock
        self._sec = -1
        self._value = b""

    def __call__(self) -> bytes:
        sec = int(self._clock())
        if sec != self._sec:
            tt = time.gmtime(sec) if self._utc else time.localtime(sec)
            self._sec, self._value = sec, time.strftime(self._fmt, tt).encode() + b" "
        return self._value


def console_color(fd: int, environ: Mapping[str, str]) -> bool:
    """The default of the console prefixes' colours: $NO_COLOR (set and not empty) says no,
    else $FORCE_COLOR (the same) says yes, else whether `fd` is a terminal (no-color.org,
    force-color.org; the console commands follow the same rules)."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return os.isatty(fd)
