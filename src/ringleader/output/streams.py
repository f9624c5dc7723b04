"""Output capture: pump each child's stdout/stderr pipe into a sink (file, console, nothing).

One ``StreamHub`` per arbiter owns the shared sinks; one ``Pump`` per (process, stream) moves
bytes from the read end of a pipe (see ``make_pipe``) to its sink. Pumps are plain callbacks on
the loop (``add_reader``), no task, no timer while idle, so thousands cost little.

Guarantees: every byte the child wrote reaches the sink in order (drained to EOF); a pump reads
only as fast as its sink writes, so a slow sink (full disk, full console pipe) blocks the child
on its pipe instead of growing memory; a file sink without ``time_format`` is byte-exact and uses
``splice()`` (zero copy) where the OS has it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, final

from ringleader.config.model import StreamConfig
from ringleader.output.custom import CustomSink, CustomStreams
from ringleader.output.file_sink import FileSink
from ringleader.output.framing import COLORS, NAMED_COLORS, LineFramer, Stamper, console_color
from ringleader.output.sinks import EMPTY, FAILED, ConsoleSink, NullSink, Sink

if TYPE_CHECKING:
    from ringleader.output.logbuffer import LogBuffer, Tap

__all__ = ["Pump", "StreamHub", "make_pipe"]

log = logging.getLogger("ringleader.streams")

PIPE_SIZE: Final = 1 << 20
_CHUNK: Final = 1 << 20  # raw copy read size
# Framed reads are smaller: a chunk of only newlines grows by len(prefix) per byte when framed.
_FRAMED_CHUNK: Final = 1 << 15
_ROUNDS: Final = 16  # reads per wakeup: big batches, yet a fair share between pumps
_PARTIAL_DELAY: Final = 0.5  # a partial line (a prompt, a progress bar) shows after this
_CLOSE_DRAIN: Final = 4 << 20  # close() reads at most this much more from a live pipe

_DIRECT, _COPY, _FRAMED, _DISCARD = range(4)


def make_pipe(size: int = PIPE_SIZE) -> tuple[int, int]:
    """A pipe for one child stream: (read end: non-blocking, cloexec; write end: blocking,
    cloexec - making it inheritable, or dup2-ing it onto 1/2, is the spawner's job).

    The pipe buffer is raised to ``size`` (best effort: an unprivileged user past
    /proc/sys/fs/pipe-user-pages-soft keeps the default) so a burst fits and reads are big.
    """
    r, w = os.pipe()  # O_CLOEXEC since PEP 446
    os.set_blocking(r, False)
    setsz = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsz is not None:
        try:
            fcntl.fcntl(w, setsz, size)
        except OSError:
            pass
    return r, w


@final
class Pump:
    """Moves one pipe's bytes to one sink. Created by ``StreamHub.open_pump``."""

    __slots__ = (
        "_after", "_before", "_closed", "_done", "_eof", "_fd", "_flush_timer", "_framer",
        "_loop", "_mode", "_paused", "_pending", "_pos", "_reading", "_sink", "_stamper", "_tap",
    )

    def __init__(self, fd: int, sink: Sink, mode: int, framer: LineFramer | None,
                 before: bytes, after: bytes, stamper: Stamper | None,
                 tap: Tap | None = None) -> None:
        self._fd = fd
        self._sink = sink
        self._mode = mode
        self._framer = framer
        self._before, self._after, self._stamper = before, after, stamper
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: bytes | None = None  # read (and framed) but not yet written
        self._pos = 0  # how much of _pending is written
        self._reading = self._paused = self._eof = self._closed = False
        self._done: asyncio.Future[None] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        # Recent-output lines (LogBuffer); a file's tap is on only while someone follows.
        self._tap = tap
        sink.acquire()

    @property
    def closed(self) -> bool:
        """True once EOF (or close()) was reached, everything was written and the fd closed."""
        return self._closed

    def start(self) -> None:
        """Start pumping on the running loop."""
        if self._loop is not None:
            raise RuntimeError("pump already started")
        self._loop = asyncio.get_running_loop()
        self._set_reading(True)

    async def wait_closed(self) -> None:
        """Return once EOF was reached, all output written and the fd closed."""
        if self._closed:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)

    def close(self) -> None:
        """Stop now: take what the pipe holds (without blocking), write it, close the fd.

        If the sink is blocked the data taken is written when it recovers; ``wait_closed``
        tells when.
        """
        if self._closed:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not self._eof:
            self._set_reading(False)
            taken = 0
            while taken < _CLOSE_DRAIN:
                try:
                    data = os.read(self._fd, _CHUNK)
                except OSError:  # EAGAIN: nothing more now
                    break
                if not data:
                    break
                taken += len(data)
                if self._tap is not None and self._tap.active:
                    self._tap.feed(data)
                if self._mode != _DISCARD:
                    self._append(self._frame(data) if self._framer is not None else data)
            self._at_eof()
        if not self._paused:
            self._run()

    # -- the pump ----------------------------------------------------------------------------

    def _run(self) -> None:
        sink, tap = self._sink, self._tap
        for _ in range(_ROUNDS):
            if self._pending is not None and not self._write_pending():
                return self._pause()
            if self._eof:
                return self._finish()
            if sink.blocked:  # don't read what we could not write
                return self._pause()
            mode = self._mode
            if mode <= _COPY and (sink.shared or self._framer is not None):
                # Several processes write this file: cut at line ends so that their lines
                # do not mix (and finish a held partial line before going back to splice).
                if self._framer is None:
                    self._framer = LineFramer()
                elif not sink.shared and not self._framer.has_partial:
                    self._framer = None
                mode = _FRAMED if self._framer is not None else mode
            teeing = tap is not None and tap.active
            if mode == _DIRECT and not teeing:  # a followed file tap needs the bytes
                n = sink.splice_from(self._fd)
                if n > 0:
                    continue
                if n == 0:
                    self._at_eof()
                    continue
                if n == EMPTY:
                    return self._set_reading(True)
                if n == FAILED:
                    return self._pause()
                # NO_SPLICE: this chunk goes through read()/write()
            try:
                data = os.read(self._fd, _FRAMED_CHUNK if self._mode == _FRAMED else _CHUNK)
            except BlockingIOError:
                return self._set_reading(True)
            except OSError as e:
                log.error("reading output pipe %d failed: %s; treating as EOF", self._fd, e)
                data = b""
            if not data:
                self._at_eof()
            elif mode != _DISCARD:
                if teeing:
                    assert tap is not None
                    tap.feed(data)
                self._append(self._frame(data) if mode == _FRAMED else data)
        if not self._eof:
            return self._set_reading(True)  # more may be waiting: the loop calls us again
        if self._pending is not None and not self._write_pending():
            return self._pause()
        self._finish()

    def _frame(self, data: bytes) -> bytes:
        assert self._framer is not None
        prefix = self._before + self._after
        if self._stamper is not None:
            prefix = self._before + self._stamper() + self._after
        out = self._framer.feed(data, prefix)
        if self._framer.has_partial and self._flush_timer is None and self._loop is not None:
            self._flush_timer = self._loop.call_later(_PARTIAL_DELAY, self._flush_partial)
        return out

    def _flush_partial(self) -> None:
        self._flush_timer = None
        if self._eof or self._framer is None or not self._framer.has_partial:
            return
        self._append(self._framer.flush())
        if not self._paused:
            self._run()

    def _append(self, data: bytes) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending, self._pos = data, 0
        else:
            self._pending, self._pos = self._pending[self._pos :] + data, 0

    def _write_pending(self) -> bool:
        buf = self._pending
        assert buf is not None
        pos, end = self._pos, len(buf)
        while pos < end:
            n = self._sink.write(buf, pos, end)
            if n == 0:  # the sink is blocked
                self._pos = pos
                return False
            pos += n
        self._pending, self._pos = None, 0
        return True

    def _pending_bytes(self) -> int:
        return 0 if self._pending is None else len(self._pending) - self._pos

    def _at_eof(self) -> None:
        self._eof = True
        self._set_reading(False)
        os.close(self._fd)
        if self._framer is not None and self._framer.has_partial:
            self._append(self._framer.flush())

    def _set_reading(self, on: bool) -> None:
        if on == self._reading or (on and self._eof):
            return
        assert self._loop is not None
        self._reading = on
        if on:
            self._loop.add_reader(self._fd, self._run)
        else:
            self._loop.remove_reader(self._fd)

    def _pause(self) -> None:
        self._set_reading(False)
        if not self._paused:
            self._paused = True
            self._sink.wait(self)

    def _resume(self) -> None:
        """Called by the sink once it may take data again."""
        self._paused = False
        if not self._closed:
            self._run()

    def _finish(self) -> None:
        self._closed = True
        if self._tap is not None:
            self._tap.close()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._sink.release()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)


@final
class StreamHub:
    """One per arbiter: the console sink, and one ref-counted FileSink per log path."""

    def __init__(self, *, console_fd: int = 1, clock: Callable[[], float] = time.time,
                 logbuffer: LogBuffer | None = None, color: bool | None = None) -> None:
        """`color`: colour every console prefix (True), none (False), or (None) as each
        stream's `color` option says, by default when `console_fd` is a terminal and
        $NO_COLOR is not set, or when $FORCE_COLOR is."""
        self._clock = clock
        self._color = color
        self._logbuffer = logbuffer
        self._console_fd = console_fd
        # console_fd < 0: no console (`up`): the lines go to the log buffer only
        self._console: Sink = ConsoleSink(console_fd) if console_fd >= 0 else NullSink()
        self._null = NullSink()
        self._files: dict[str, FileSink] = {}
        self._watcher_index: dict[str, int] = {}
        self._stampers: dict[tuple[str, bool], Stamper] = {}
        self._tty: bool | None = None
        self._custom = CustomStreams()  # circus's stream classes, one object per watcher

    def open_pump(self, fd: int, cfg: StreamConfig, *, watcher: str, wid: int,
                  stream: Literal["stdout", "stderr"], pid: int = 0) -> Pump:
        """A pump from ``fd`` (the read end from make_pipe; the pump owns and closes it) to the
        sink ``cfg`` names. Call ``start()`` on it from the loop."""
        stamper = None
        if cfg.time_format:
            key = (cfg.time_format, cfg.utc)
            stamper = self._stampers.get(key)
            if stamper is None:
                stamper = self._stampers[key] = Stamper(cfg.time_format, cfg.utc, self._clock)
        if cfg.kind == "null":
            return Pump(fd, self._null, _DISCARD, None, b"", b"", None)
        if cfg.kind == "custom":
            custom = self._custom.get(cfg, watcher, stream)
            if custom is not None:  # whole lines, as circus reads them
                return Pump(fd, CustomSink(custom, pid, stream), _FRAMED, LineFramer(), b"",
                            b"", stamper)
        if cfg.kind == "file":
            if not cfg.filename:
                raise ValueError(f"{watcher}.{stream}: a file stream needs a filename")
            sink = self._file_sink(cfg)
            tap = None
            if self._logbuffer is not None:
                tap = self._logbuffer.tap(watcher, wid, stream, path=sink.path)
            if stamper is None:
                mode = _DIRECT if hasattr(os, "splice") else _COPY
                return Pump(fd, sink, mode, None, b"", b"", None, tap)
            return Pump(fd, sink, _FRAMED, LineFramer(), b"", b"", stamper, tap)
        # console: "name.wid | " at every line start, like honcho/foreman
        label = f"{watcher}.{wid} |".encode()
        color = self._color if self._color is not None else cfg.color
        if color is None:
            if self._tty is None:
                self._tty = self._console_fd >= 0 and console_color(self._console_fd,
                                                                     os.environ)
            color = self._tty
        if color:
            index = self._watcher_index.setdefault(watcher, len(self._watcher_index))
            code = COLORS[(index + wid) % len(COLORS)]
            if isinstance(cfg.color, str) and self._color is not False:
                code = NAMED_COLORS.get(cfg.color, code)
            before, after = f"\x1b[{code}m".encode(), label + b"\x1b[0m "
        else:
            before, after = b"", label + b" "
        tap = None if self._logbuffer is None else self._logbuffer.tap(watcher, wid, stream)
        return Pump(fd, self._console, _FRAMED, LineFramer(), before, after, stamper, tap)

    def _file_sink(self, cfg: StreamConfig) -> FileSink:
        assert cfg.filename is not None
        path = os.path.abspath(cfg.filename)
        sink = self._files.get(path)
        if sink is None:  # the first config opening a path decides its rotation
            sink = self._files[path] = FileSink(path, cfg, self._clock, self._forget)
        return sink

    def _forget(self, sink: FileSink) -> None:
        if self._files.get(sink.path) is sink:
            del self._files[sink.path]

    def reopen_files(self) -> None:
        """Reopen every log file at its next write (logrotate moved them)."""
        for sink in self._files.values():
            sink.reopen()

    async def aclose(self) -> None:
        """Close all sinks. Call after the pumps ended: output still queued on a blocked sink
        is dropped (and counted in a log message)."""
        self._custom.close()
        dropped = self._console.close()
        for sink in list(self._files.values()):
            dropped += sink.close()
        self._files.clear()
        if dropped:
            log.error("stream hub closed with %d bytes of output still unwritten", dropped)
