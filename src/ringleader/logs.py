"""The controller's own log: one readable line per action.

Three formats: ``text`` (a timestamp, the level, the logger), ``journal`` (no timestamp,
a ``<N>`` syslog priority prefix that journald turns into the entry's priority; chosen by
default when stderr is the journal's stream, ``$JOURNAL_STREAM``) and ``json`` (one object
per line for log shippers). A log file is reopened on request (SIGUSR1/SIGUSR2/SIGHUP,
after logrotate moved it) and may rotate itself by size (``log_max_bytes``,
``log_backups``: the convention of the watchers' file streams and of
``logging.handlers.RotatingFileHandler``).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
from collections.abc import Mapping

from ringleader.trusted_files import open_trusted

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
FORMATS = ("auto", "text", "json", "journal")
# logging level -> syslog priority (sd-daemon(3)'s SD_* prefixes)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


def under_journald(environ: Mapping[str, str], fd: int = 2) -> bool:
    """Whether `fd` is the stream systemd connected to the journal: ``$JOURNAL_STREAM``
    ("device:inode") names it (systemd.exec(5)); a stderr redirected elsewhere is not."""
    dev, sep, ino = environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError):
        return False


class JournalFormatter(logging.Formatter):
    """``<6>ringleader.daemon: message``: journald keeps the time and takes the priority."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{record.name}: " + text.replace("\n", "\n  ")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, RFC 3339), level, logger, msg, and watcher/wid
    when the record carries them (``extra=``); exc for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, object] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z", "level": record.levelname.lower(),
            "logger": record.name, "msg": record.getMessage(),
        }
        for key in ("watcher", "wid"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def make_formatter(fmt: str, stream_fd: int | None) -> logging.Formatter:
    """`fmt`: one of FORMATS; "auto" is ``journal`` when `stream_fd` is the journal's
    stream, else ``text``."""
    if fmt == "auto":
        journal = stream_fd is not None and under_journald(os.environ, stream_fd)
        fmt = "journal" if journal else "text"
    if fmt == "json":
        return JsonFormatter()
    if fmt == "journal":
        return JournalFormatter("%(message)s")
    return logging.Formatter(FORMAT, DATEFMT)


class LogFile(logging.Handler):
    """The controller's log file, opened through ``trusted_files.open_trusted`` (never
    through a symbolic link, ours, not writable by others); ``reopen()`` after logrotate
    moved it, and a size rotation of its own when `max_bytes` and `backups` are set.

    When the process's stdout or stderr is that same file (``ringleader up`` starts the
    controller so), they follow it to the new file: a traceback or a worker's console
    output never keeps growing the rotated one."""

    def __init__(self, path: str, *, max_bytes: int = 0, backups: int = 0) -> None:
        super().__init__()
        self.path = os.path.abspath(path)
        self._max_bytes = max_bytes if backups > 0 else 0  # logging: 0 backups = never
        self._backups = backups
        self._fd = -1
        self._id = (0, 0)
        self._regular = True
        self._open()
        self._std = [n for n in (1, 2) if _file_id(n) == self._id]

    def _open(self) -> None:
        fd = open_trusted(self.path, "a", create=True, perm=0o600, devices=True,
                          shared_dir_ok=True)
        st = os.fstat(fd)
        old, self._fd = self._fd, fd
        self._id = (st.st_dev, st.st_ino)
        self._regular = stat.S_ISREG(st.st_mode)  # never rotate /dev/null away
        if old >= 0:
            os.close(old)

    def reopen(self) -> None:
        """Open the path again (a new file if it was moved); raises UntrustedFile or
        OSError and keeps writing to the old file then."""
        self.acquire()
        try:
            old = self._id
            self._open()
            self._follow(old)
        finally:
            self.release()

    def _follow(self, old: tuple[int, int]) -> None:
        for n in self._std:
            if _file_id(n) == old:
                os.dup2(self._fd, n)

    def _rotate(self) -> None:
        """name.(N-1) -> name.N ... name -> name.1, then a new name; only while the path
        still is our file (moved away meanwhile: just a new file there)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
            ours = (st.st_dev, st.st_ino) == self._id
        except FileNotFoundError:
            ours = False
        if ours:
            for i in range(self._backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.lexists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        old = self._id
        self._open()
        self._follow(old)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            # the file's size, not a count of ours: stdout and stderr may write there too
            size = os.fstat(self._fd).st_size if self._max_bytes and self._regular else 0
            if size and size + len(data) > self._max_bytes:
                try:
                    self._rotate()
                except Exception as exc:  # OSError, UntrustedFile: keep the file we have
                    self._max_bytes = 0
                    sys.stderr.write(f"cannot rotate {self.path}: {exc}; it keeps growing\n")
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.acquire()
        try:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        finally:
            self.release()
        super().close()


def _file_id(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def setup_logging(level: str = "info", output: str = "-", *, fmt: str = "auto",
                  max_bytes: int = 0, backups: int = 0) -> None:
    """Log at `level` to stderr ('-') or stdout, to syslog (syslog://...), or to the file
    `output` (appended; a ``LogFile``: raises UntrustedFile, or OSError), in the format
    `fmt` (FORMATS; syslog keeps its own)."""
    handler: logging.Handler
    if output in ("-", "stderr", "stdout"):
        stream = sys.stdout if output == "stdout" else sys.stderr
        handler = logging.StreamHandler(stream)
        handler.setFormatter(make_formatter(fmt, 1 if output == "stdout" else 2))
    elif output.startswith("syslog://"):
        handler = syslog_handler(output)
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    else:
        handler = LogFile(output, max_bytes=max_bytes, backups=backups)
        handler.setFormatter(make_formatter(fmt, None))
    root = logging.getLogger("ringleader")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def syslog_handler(url: str) -> logging.Handler:
    """circus's logoutput = syslog://[HOST[:PORT]][/PATH][?FACILITY]: a syslog server over
    UDP (port 514), or the local socket at PATH (default /dev/log); facility user by
    default. Raises OSError (no such socket) or ValueError (an unknown facility)."""
    from logging.handlers import SysLogHandler
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    facility = (parts.query or "user").lower()
    if facility not in SysLogHandler.facility_names:
        raise ValueError(f"{url}: unknown syslog facility {facility!r} (expected one of "
                         f"{', '.join(sorted(SysLogHandler.facility_names))})")
    address: str | tuple[str, int] = ((parts.hostname, parts.port or 514) if parts.hostname
                                       else parts.path or "/dev/log")
    handler = SysLogHandler(address, facility=SysLogHandler.facility_names[facility])
    handler.ident = "ringleader: "
    return handler


def reopen_logs() -> list[str]:
    """Reopen the controller's log file, if it logs to one; returns the problems (one line
    each: the log keeps going to the file it had)."""
    problems = []
    for handler in logging.getLogger("ringleader").handlers:
        if isinstance(handler, LogFile):
            try:
                handler.reopen()
            except Exception as exc:  # UntrustedFile, OSError
                problems.append(f"cannot reopen the log {handler.path}: {exc}")
    return problems
