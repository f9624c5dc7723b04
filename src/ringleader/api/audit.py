"""The audit log: one JSON line per mutating call (when, who, what, result).

Written with a single O_APPEND write per record, so lines from a crashing controller
are whole, and never buffered in the process.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import time
from typing import TYPE_CHECKING, Any

import msgspec

from ringleader.trusted_files import UntrustedFile, open_trusted

if TYPE_CHECKING:
    from ringleader.api.http import Request, Response

log = logging.getLogger("ringleader.audit")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
# Room a record needs beyond the request body: time, who, op, status... (generous).
_LINE_OVERHEAD = 1024


def _summary(args: Any) -> Any:
    """The request's arguments as the handler parsed them (never parsed again here), with
    environment values left out: they may be secrets."""
    if isinstance(args, dict):
        options = args.get("options")
        if isinstance(options, dict) and "env" in options:
            env = options["env"]
            args = {**args, "options": {**options, "env": sorted(env) if isinstance(env, dict)
                                        else "?"}}
    return args


class AuditLog:
    """The audit log file, opened by ``trusted_files.open_trusted`` (never through a
    symbolic link, ours, not writable by others, mode 0600).

    It follows the file: deleted or renamed away (logrotate), it is opened again before
    the next record (and on SIGHUP, ``reopen``). With `required` (the default), a change
    that could not be recorded is refused: ``problem`` says, before the change is made,
    whether its record can be written (the file is there and ours, the file-size limit and
    the free space leave room for it, and the last write did not fail)."""

    __slots__ = ("_failing", "_fd", "_id", "path", "required", "shared_dir_ok")

    def __init__(self, path: str, *, shared_dir_ok: bool = True, required: bool = True) -> None:
        """Opens (creating it, and its folders 0700, if needed) or raises UntrustedFile."""
        self.path = path
        self.shared_dir_ok = shared_dir_ok
        self.required = required
        self._fd = -1
        self._id = (0, 0)
        self._failing: str | None = None
        self._open()

    def _open(self) -> None:
        fd = open_trusted(self.path, "a", create=True, perm=0o600,
                          shared_dir_ok=self.shared_dir_ok, make_dirs=True)
        st = os.fstat(fd)
        self.close()
        self._fd, self._id = fd, (st.st_dev, st.st_ino)

    def reopen(self) -> None:
        """Open the file at `path` again (after a rotation); on failure the log keeps
        failing (and, when required, changes are refused) until it works."""
        try:
            self._open()
        except (OSError, UntrustedFile) as exc:
            self._fail(str(exc) if isinstance(exc, UntrustedFile) else exc.strerror or exc)
        else:
            if self._failing is not None:
                log.warning("audit log %s: writable again", self.path)
            self._failing = None

    def _follow(self) -> None:
        """Reopen when the file at `path` is not (any more) the one we hold."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            st = None
        if self._fd < 0 or st is None or (st.st_dev, st.st_ino) != self._id:
            self.reopen()

    def _fail(self, why: object) -> None:
        if self._failing is None:
            log.error("cannot write the audit log %s: %s", self.path, why)
        self._failing = str(why)

    def problem(self, request: Request) -> str | None:
        """Why the record of `request` could not be written now, or None. The file-size
        limit and the free space are checked each time; another failed write (EIO,
        EDQUOT...) or a failed reopen counts until the file is opened again (it was rotated
        or replaced, or on SIGHUP)."""
        self._follow()
        if self._failing is not None or self._fd < 0:
            return self._failing or "not open"
        need = _LINE_OVERHEAD + len(request.body)
        try:
            size = os.fstat(self._fd).st_size
            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            fs = os.fstatvfs(self._fd)
        except OSError as exc:
            return exc.strerror or str(exc)
        free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * fs.f_frsize
        why = None
        if limit != resource.RLIM_INFINITY and size + need > limit:
            why = f"its size would pass the file size limit ({limit} bytes)"
        elif free < need:
            why = "no space left on its device"
        if why is not None:
            log.error("audit log %s: cannot record a change: %s", self.path, why)
        return why

    def record(self, request: Request, op: str, name: str | None, response: Response,
               args: Any = None) -> None:
        """*args*: the parsed request body (None for none, {"unparsed_bytes": n} for one
        that was refused before or while parsing)."""
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "who": request.identity.name,
            "role": request.identity.role,
            "peer": request.peer.address,
            "op": op,
            "watcher": name,
            "args": _summary(args),
            "status": response.status,
            "result": "ok" if response.status < 400 else _error_code(response.body),
        }
        self._follow()
        line = _encode(entry) + b"\n"
        try:
            if self._fd < 0:
                raise OSError(self._failing or "not open")
            if os.write(self._fd, line) != len(line):
                raise OSError("short write (disk full?)")
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EFBIG):
                # ``problem`` checks these before each change: they need not stick
                log.error("cannot write the audit log %s: %s", self.path, exc.strerror)
            else:
                self._fail(exc.strerror or exc)
        else:
            if self._failing is not None:
                log.warning("audit log %s: writable again", self.path)
                self._failing = None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _error_code(body: bytes) -> str:
    try:
        data = _decode(body)
    except (msgspec.DecodeError, ValueError):  # our own answer, but never lose a record
        return "error"
    return str(data.get("error", "error")) if isinstance(data, dict) else "error"
