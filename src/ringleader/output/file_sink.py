"""The log file sink: one file shared by the pumps that name it, opened off the loop through
``trusted_files``, rotated by size and time, paused and retried when the disk fails."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from typing import Final, final

from ringleader.config.model import StreamConfig
from ringleader.output import rotation
from ringleader.output.sinks import EMPTY, FAILED, NO_SPLICE, Sink
from ringleader.trusted_files import UntrustedFile, open_trusted

log = logging.getLogger("ringleader.streams")

RETRY_DELAY: Final = 1.0  # seconds between write attempts to a failing file
STAT_INTERVAL: Final = 1.0  # seconds between checks that the log path still is our file
SPLICE_CHUNK: Final = 1 << 20


class _Opening(Exception):
    """The file is being opened in a worker thread: the sink is blocked until then."""


@final
class FileSink(Sink):
    """One log file shared by all the pumps that name it, with size and time rotation.

    Opened without O_APPEND (splice() refuses it); the single loop thread is the only writer
    of the fd, so the file offset is ours. Every open (the first, after a rotation, when the
    file was moved away) runs in a worker thread through ``trusted_files.open_trusted``
    (never through a symbolic link, a regular file of ours or a character device such as
    /dev/null, missing folders made 0700): the loop never waits for it, and a FIFO or a
    planted link is one error naming the file, that stream paused (nothing lost: the
    children wait on their pipes) and retried.
    """

    __slots__ = (
        "_backup_count", "_clock", "_closed", "_failing", "_fd", "_id", "_interval",
        "_max_bytes", "_next_check", "_on_idle", "_opening", "_path", "_refs", "_rollover_at",
        "_size", "_splice_ok", "_timer", "_utc", "_when",
    )

    def __init__(
        self, path: str, cfg: StreamConfig, clock: Callable[[], float],
        on_idle: Callable[[FileSink], None],
    ) -> None:
        super().__init__()
        self._path = path
        self._max_bytes = cfg.max_bytes if cfg.backup_count > 0 else 0  # logging: 0 = never
        self._backup_count = cfg.backup_count
        self._when = cfg.rotate_when
        self._interval = cfg.rotate_interval
        self._utc = cfg.utc
        self._clock = clock
        self._on_idle = on_idle
        self._fd = -1
        self._id = (0, 0)
        self._size = 0
        self._refs = 0
        self._rollover_at = 0.0
        self._next_check = 0.0
        self._failing: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._splice_ok = hasattr(os, "splice")
        self._opening = False
        self._closed = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def shared(self) -> bool:
        return self._refs > 1

    def acquire(self) -> None:
        self._refs += 1

    def release(self) -> None:
        self._refs -= 1
        if self._refs <= 0:
            self.close()
            self._on_idle(self)

    # -- writing -----------------------------------------------------------------------------

    def splice_from(self, fd: int) -> int:
        if not self._splice_ok or self.blocked:
            return NO_SPLICE if not self.blocked else FAILED
        try:
            self._prepare()
        except _Opening:
            return FAILED
        except OSError as e:
            return self._fail(e)
        if self._max_bytes and self._max_bytes - self._size < 2 * SPLICE_CHUNK:
            return NO_SPLICE  # near a size rollover: the copy path cuts at a line end
        try:
            n = os.splice(fd, self._fd, SPLICE_CHUNK)
        except BlockingIOError:
            return EMPTY
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                self._splice_ok = False  # filesystem without splice support
                return NO_SPLICE
            return self._fail(e)
        self._size += n
        if self._failing:
            self._recovered()
        return n

    def write(self, buf: bytes, start: int, end: int) -> int:
        if self.blocked:
            return 0
        pos = start
        try:
            self._prepare()
            mv = memoryview(buf)
            while pos < end:
                stop = end
                if self._max_bytes:
                    n = rotation.size_split(
                        buf, pos, end, self._max_bytes - self._size, self._size == 0)
                    if n == 0:
                        self._rotate_size()
                        continue
                    stop = pos + n
                written = os.write(self._fd, mv[pos:stop])
                pos += written
                self._size += written
        except _Opening:
            return pos - start
        except OSError as e:
            self._fail(e)
            return pos - start
        if self._failing:
            self._recovered()
        return pos - start

    def _prepare(self) -> None:
        """Open if needed, roll over by time, and notice the file was deleted/moved/truncated.
        Raises _Opening while the file is (re)opened."""
        now = self._clock()
        if self._fd < 0:
            self._start_open()
        if self._rollover_at and now >= self._rollover_at:
            self._rotate_time(now)
        # A cheap stat at most once per STAT_INTERVAL (or when the clock went back).
        if now >= self._next_check or now < self._next_check - STAT_INTERVAL:
            self._next_check = now + STAT_INTERVAL
            try:
                st = os.stat(self._path, follow_symlinks=False)
            except FileNotFoundError:
                self._reopen()
                return
            if (st.st_dev, st.st_ino) != self._id:
                self._reopen()
            elif st.st_size < self._size:  # truncated under us (copytruncate)
                self._size = os.lseek(self._fd, 0, os.SEEK_END)

    def _start_open(self) -> None:
        """Open the file in a worker thread; the sink is blocked until it is done."""
        self.blocked = True
        if not self._opening:
            self._opening = True
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, self._open_file).add_done_callback(self._opened)
        raise _Opening

    def _open_file(self) -> tuple[int, os.stat_result]:
        # In a worker thread: open() may block (NFS), and folders may be made.
        fd = open_trusted(self._path, "w", create=True, perm=0o600, devices=True,
                          shared_dir_ok=True, make_dirs=True)
        try:
            os.lseek(fd, 0, os.SEEK_END)
            return fd, os.fstat(fd)
        except OSError:
            os.close(fd)
            raise

    def _opened(self, future: asyncio.Future[tuple[int, os.stat_result]]) -> None:
        self._opening = False
        try:
            fd, st = future.result()
        except (OSError, UntrustedFile) as e:
            if not self._closed:
                self._fail(e)
            return
        if self._closed:
            os.close(fd)
            return
        now = self._clock()
        self._fd, self._id, self._size = fd, (st.st_dev, st.st_ino), st.st_size
        self._next_check = now + STAT_INTERVAL
        if self._when and not self._rollover_at:
            # Like logging: an existing file's period started when it was last written.
            start = st.st_mtime if self._size else now
            self._rollover_at = rotation.next_rollover(start, self._when, self._interval,
                                                       self._utc)
        if self._failing:
            self._recovered()
        self._wake()

    def _reopen(self) -> None:
        self._close_fd()
        self._start_open()

    def reopen(self) -> None:
        """Open the path again at the next write (SIGUSR1: logrotate moved the file)."""
        if self._fd >= 0 and not self._closed:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _rotate_size(self) -> None:
        self._close_fd()
        try:
            for src, dst in rotation.size_rotation_moves(self._path, self._backup_count):
                if os.path.lexists(src):
                    os.replace(src, dst)
        except OSError as e:
            log.error("cannot rotate %s: %s; it keeps growing", self._path, e)
        self._start_open()

    def _rotate_time(self, now: float) -> None:
        assert self._when is not None
        start = self._rollover_at - rotation.interval_seconds(self._when, self._interval)
        self._rollover_at = rotation.next_rollover(now, self._when, self._interval, self._utc)
        self._close_fd()
        try:
            if os.path.lexists(self._path):
                dest = rotation.timed_backup_name(self._path, self._when, start, self._utc)
                alt, k = dest, 0
                while os.path.lexists(alt):  # never overwrite an earlier backup
                    k += 1
                    alt = f"{dest}.{k}"
                os.replace(self._path, alt)
            directory, base = os.path.split(self._path)
            for name in rotation.timed_backups_to_delete(
                    base, os.listdir(directory or "."), self._when, self._backup_count):
                os.unlink(os.path.join(directory, name))
        except OSError as e:
            log.error("cannot rotate %s: %s", self._path, e)
        self._start_open()

    # -- failure and recovery ----------------------------------------------------------------

    def _fail(self, e: OSError | UntrustedFile) -> int:
        """Disk full, quota, I/O error, a file that cannot be trusted...: keep the data (in
        the pipes), retry after a delay."""
        if self._failing is None:
            self._failing = str(e) if isinstance(e, UntrustedFile) else e.strerror or str(e)
            log.error("cannot write %s: %s; output paused, retrying every %.0f s",
                      self._path, self._failing, RETRY_DELAY)
        self.blocked = True
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(RETRY_DELAY, self._retry)
        return FAILED

    def _retry(self) -> None:
        self._timer = None
        self._wake()

    def _recovered(self) -> None:
        log.warning("%s is writable again (was: %s); output resumed", self._path, self._failing)
        self._failing = None

    def close(self) -> int:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self._close_fd()
        except OSError:
            pass
        return super().close()
