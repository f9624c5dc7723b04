"""Recent output lines of each watcher, and followers of new ones (`ringleader logs [-f]`).

One ``LogBuffer`` per arbiter; the ``StreamHub`` gives each pump a ``Tap`` of it:

- console output passes through Python anyway (to be prefixed), so its tap is always on and
  keeps the last lines of each watcher in a bounded ring;
- file output is spliced pipe -> file without entering Python, and stays so: ``recent``
  reads the tail of the log file instead, and only while someone follows the watcher are its
  file taps on - the pump then takes its read()/write() path and feeds the tap;
- null output is never captured: nothing to show.

Lines are kept as bytes and decoded (UTF-8, 'replace') only when asked for. A line longer
than ``max_line`` is cut in the buffer (the sinks keep it whole). A follower has a bounded
queue: one that falls behind gets a ``[N lines dropped]`` line instead of growing memory.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Final, Literal, final

import msgspec

from ringleader.trusted_files import UntrustedFile, open_trusted

__all__ = ["Follower", "LineFilter", "LogBuffer", "Tap"]

Stream = Literal["stdout", "stderr"]
# (wall time, watcher, wid, stream, line without its newline)
Entry = tuple[float, str, int, Stream, bytes]

MAX_LINES: Final = 1000
MAX_BYTES: Final = 256 * 1024
MAX_LINE: Final = 4096
FOLLOW_QUEUE: Final = 1000


class _Dropped(msgspec.Struct):
    """Stands in a follower's queue for the lines it had no room for."""

    count: int
    at: float


@final
class _Ring:
    """One watcher's recent console lines, kept as the blocks of complete lines they arrived
    in: a block costs a few C-level calls (a tuple per line made the console pump 4x slower).
    Lines are cut, counted and truncated only when asked for."""

    __slots__ = ("blocks", "size")

    def __init__(self) -> None:
        # (at, wid, stream, lines joined by newlines)
        self.blocks: deque[tuple[float, int, Stream, bytes]] = deque()
        self.size = 0

    def add(self, at: float, tap: Tap, block: bytes, max_lines: int, max_bytes: int) -> None:
        self.blocks.append((at, tap.wid, tap.stream, block))
        self.size += len(block)
        # Drop the oldest blocks the bounds do not need (a block holds at least one line;
        # the oldest kept may be cut by `last`): memory stays within max_bytes plus one
        # block (one pump read: <= 32 KiB).
        blocks = self.blocks
        while len(blocks) > 1 and (len(blocks) > max_lines
                                   or self.size - len(blocks[0][3]) >= max_bytes):
            self.size -= len(blocks.popleft()[3])

    def last(self, watcher: str, n: int, max_bytes: int, max_line: int,
             only: LineFilter | None = None) -> list[Entry]:
        out: list[Entry] = []
        budget = max_bytes
        for at, wid, stream, block in reversed(self.blocks):
            if only is not None and not only.keeps(at, wid, stream):
                if only.since is not None and at < only.since:
                    break  # blocks are in time order: the older ones are older still
                continue
            for line in reversed(block.split(b"\n")):
                line = line[:max_line]
                budget -= len(line)
                if len(out) >= n or budget < 0:
                    out.reverse()
                    return out
                out.append((at, watcher, wid, stream, line))
        out.reverse()
        return out


class LineFilter(msgspec.Struct, frozen=True):
    """Which lines `logs` asks for: one stream, one slot, from a wall time on (None: any)."""

    stream: Stream | None = None
    wid: int | None = None
    since: float | None = None

    def keeps(self, at: float, wid: int, stream: Stream) -> bool:
        return ((self.stream is None or stream == self.stream)
                and (self.wid is None or wid == self.wid)
                and (self.since is None or at >= self.since))

    def keeps_line(self, line: dict[str, Any]) -> bool:
        """The same test on a LogLine-shaped dict (a followed line)."""
        return self.keeps(line["at"], line["wid"], line["stream"])


@final
class Tap:
    """Cuts one pump's output into lines for the buffer. Created by ``LogBuffer.tap``."""

    __slots__ = ("_buffer", "_partial", "active", "path", "stream", "watcher", "wid")

    def __init__(self, buffer: LogBuffer, watcher: str, wid: int, stream: Stream,
                 path: str | None) -> None:
        self._buffer = buffer
        self.watcher, self.wid, self.stream, self.path = watcher, wid, stream, path
        self._partial = bytearray()
        # The pump reads this before every read: a file tap is on only while followed.
        self.active = path is None

    def feed(self, data: bytes) -> None:
        """Take a chunk of raw output (cut anywhere)."""
        nl = data.rfind(b"\n")
        if nl >= 0:
            block = data[:nl]
            if self._partial:
                block = bytes(self._partial) + block
                self._partial.clear()
            self._buffer._add(self, block)
        tail = data[nl + 1 :]
        if tail:
            room = self._buffer.max_line - len(self._partial)
            if room > 0:  # the rest of an over-long line is not kept
                self._partial += tail[:room]

    def close(self) -> None:
        """The pump ended: a last line without newline still counts."""
        if self._partial and self.active:
            self._buffer._add(self, bytes(self._partial))
        self._partial.clear()
        self._buffer._untap(self)

    def _set_active(self, on: bool) -> None:
        if on and not self.active and self.path is not None:
            # The start of the current line may already be in the file (spliced there):
            # take it back, so the first followed line is whole. Only if we alone write it.
            self._partial[:] = self._buffer._file_fragment(self)
        elif not on:
            self._partial.clear()
        self.active = on


@final
class Follower:
    """New lines of one watcher (or all), as LogLine-shaped dicts; an async iterator.

    Registered when created (so no line falls between ``recent`` and following); ends when
    ``aclose``d or garbage-collected.
    """

    __slots__ = ("__weakref__", "_finalizer", "_maxsize", "_queue", "_waiter", "watcher")

    def __init__(self, buffer: LogBuffer, watcher: str | None, maxsize: int) -> None:
        self.watcher = watcher
        self._maxsize = maxsize
        self._queue: deque[Entry | _Dropped] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._finalizer = weakref.finalize(self, buffer._unfollow, watcher)

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._queue:
            if not self._finalizer.alive:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._queue.popleft()
        if isinstance(item, _Dropped):
            return _as_dict((item.at, self.watcher or "", 0, "stderr",
                             b"[%d lines dropped]" % item.count))
        return _as_dict(item)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()
        self._wake()

    def _offer(self, buffer: LogBuffer, at: float, tap: Tap, lines: list[bytes],
               skipped: int) -> None:
        q = self._queue
        room = max(0, self._maxsize - len(q))
        q.extend(buffer._entry(at, tap, line) for line in lines[:room])
        dropped = max(0, len(lines) - room) + skipped
        if dropped:
            # The marker sits where the lines would have been, and may go one past maxsize.
            if q and isinstance(q[-1], _Dropped):
                q[-1].count += dropped
            else:
                q.append(_Dropped(dropped, at))
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@final
class LogBuffer:
    """Recent lines per watcher (``max_lines`` or ``max_bytes``, whichever first)."""

    def __init__(self, *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES,
                 max_line: int = MAX_LINE, follow_queue: int = FOLLOW_QUEUE,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_lines, self.max_bytes, self.max_line = max_lines, max_bytes, max_line
        self._follow_queue = follow_queue
        self._clock = clock
        self._rings: dict[str, _Ring] = {}
        # Log files each watcher wrote: path -> (stream, wids); kept after the pumps end.
        self._files: dict[str, dict[str, tuple[Stream, set[int]]]] = {}
        self._file_taps: dict[str, set[Tap]] = {}  # live file taps by watcher
        self._writers: Counter[str] = Counter()  # live taps by path
        self._followers: weakref.WeakSet[Follower] = weakref.WeakSet()
        self._following: Counter[str | None] = Counter()  # by watcher; None: all

    def tap(self, watcher: str, wid: int, stream: Stream, *, path: str | None = None) -> Tap:
        """A tap for one pump: ``path`` of the log file it writes, None for the console."""
        t = Tap(self, watcher, wid, stream, path)
        if path is not None:
            files = self._files.setdefault(watcher, {})
            files.setdefault(path, (stream, set()))[1].add(wid)
            self._file_taps.setdefault(watcher, set()).add(t)
            self._writers[path] += 1
            if self._following[None] or self._following[watcher]:
                t._set_active(True)
        return t

    def forget(self, watcher: str) -> None:
        """The watcher was removed: drop what is kept of it."""
        for d in (self._rings, self._files):
            d.pop(watcher, None)

    def recent(self, watcher: str | None, lines: int,
               only: LineFilter | None = None) -> list[dict[str, Any]]:
        """The last ``lines`` lines of one watcher (or all), oldest first, as LogLine dicts;
        with ``only``, the last ``lines`` of those it keeps.

        Console lines come from the ring; file lines from the tail of the log file, stamped
        with its mtime (and with wid 0 when several processes share the file).
        """
        if lines <= 0:
            return []
        names = [watcher] if watcher is not None else sorted({*self._rings, *self._files})
        entries: list[Entry] = []
        for name in names:
            ring = self._rings.get(name)
            if ring is not None:
                entries.extend(ring.last(name, min(lines, self.max_lines), self.max_bytes,
                                         self.max_line, only))
            for path, (stream, wids) in self._files.get(name, {}).items():
                wid = next(iter(wids)) if len(wids) == 1 else 0
                tail = self._file_tail(name, path, stream, wid, lines)
                entries.extend(e for e in tail if only is None or only.keeps(e[0], wid, stream))
        entries.sort(key=lambda e: e[0])  # stable: each source is already in order
        return [_as_dict(e) for e in entries[-lines:]]

    def follow(self, watcher: str | None) -> Follower:
        """Follow new lines of ``watcher`` (None: every watcher) from now on."""
        f = Follower(self, watcher, self._follow_queue)
        self._followers.add(f)
        self._following[watcher] += 1
        if self._following[watcher] == 1:
            self._refresh_taps(watcher)
        return f

    # -- internals ----------------------------------------------------------------------

    def _add(self, tap: Tap, block: bytes) -> None:
        """Complete lines of ``tap``, joined by newlines."""
        at = self._clock()
        if tap.path is None:
            ring = self._rings.get(tap.watcher)
            if ring is None:
                ring = self._rings[tap.watcher] = _Ring()
            ring.add(at, tap, block, self.max_lines, self.max_bytes)
        if not self._followers:
            return
        # Cut no more lines than the followers' queues can take; just count the rest.
        room = self._room(tap.watcher)
        lines = block.split(b"\n", room)
        skipped = 0
        if len(lines) > room:
            skipped = lines.pop().count(b"\n") + 1
        for f in self._followers:
            if f.watcher is None or f.watcher == tap.watcher:
                f._offer(self, at, tap, lines, skipped)

    def _room(self, watcher: str) -> int:
        """The most lines a follower of ``watcher`` can still queue."""
        room = 0
        for f in self._followers:
            if f.watcher is None or f.watcher == watcher:
                room = max(room, f._maxsize - len(f._queue))
        return room

    def _entry(self, at: float, tap: Tap, line: bytes) -> Entry:
        cap = self.max_line
        return (at, tap.watcher, tap.wid, tap.stream, line if len(line) <= cap else line[:cap])

    def _untap(self, tap: Tap) -> None:
        if tap.path is None:
            return
        taps = self._file_taps.get(tap.watcher)
        if taps is not None:
            taps.discard(tap)
        self._writers[tap.path] -= 1
        if self._writers[tap.path] <= 0:
            del self._writers[tap.path]

    def _unfollow(self, watcher: str | None) -> None:
        self._following[watcher] -= 1
        if self._following[watcher] <= 0:
            del self._following[watcher]
            self._refresh_taps(watcher)

    def _refresh_taps(self, watcher: str | None) -> None:
        groups: Iterable[tuple[str, set[Tap]]] = (
            self._file_taps.items() if watcher is None
            else [(watcher, self._file_taps.get(watcher, set()))])
        everyone = bool(self._following[None])
        for name, taps in groups:
            on = everyone or bool(self._following[name])
            for t in taps:
                t._set_active(on)

    def _file_tail(self, watcher: str, path: str, stream: Stream, wid: int,
                   lines: int) -> list[Entry]:
        try:
            with _open_log(path) as f:
                st = os.fstat(f.fileno())
                start = max(0, st.st_size - self.max_bytes)
                f.seek(start)
                data = f.read(self.max_bytes)
        except OSError:
            return []
        parts = data.split(b"\n")
        parts.pop()  # an unfinished last line (or b""): it shows once finished
        if start > 0 and parts:
            parts.pop(0)  # cut at the read's start
        cap = self.max_line
        return [(st.st_mtime, watcher, wid, stream, p[:cap]) for p in parts[-lines:]]

    def _file_fragment(self, tap: Tap) -> bytes:
        """The unfinished last line of the tap's file, if the tap is its only writer."""
        assert tap.path is not None
        if self._writers[tap.path] != 1:
            return b""
        try:
            with _open_log(tap.path) as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - self.max_line))
                data = f.read(self.max_line)
        except OSError:
            return b""
        return data[data.rfind(b"\n") + 1 :]


def _open_log(path: str) -> BinaryIO:
    """A watcher's log file for reading its tail: a regular file of ours, never through a
    symbolic link (the read role must not read what the link points at), never a FIFO
    (which would block the loop). OSError otherwise."""
    try:
        fd = open_trusted(path, "r", shared_dir_ok=True)
    except UntrustedFile as exc:
        raise OSError(str(exc)) from None
    return open(fd, "rb")


def _as_dict(e: Entry) -> dict[str, Any]:
    return {"at": e[0], "watcher": e[1], "wid": e[2], "stream": e[3],
            "line": e[4].decode("utf-8", "replace")}
