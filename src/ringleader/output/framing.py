"""Line framing of captured output: a prefix (``web.3 | ``, a timestamp) at every line start."""

from __future__ import annotations

from typing import final


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
