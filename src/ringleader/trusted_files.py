"""Files the controller opens with its own privileges (often root's): the state file, the
audit log, the pid file, its own log, the watchers' log files, config files and their
includes, the TLS files.

Another local user must not be able to choose what such a file says (a planted state file
runs commands as root) nor where the controller writes (a planted symbolic link aims root's
writes at /etc/shadow). So every open goes through ``open_trusted``:

- the folder is reached one component at a time from ``/``; a symbolic link on the way is
  followed only when root or the controller's user owns it and nobody else can replace it;
  a missing folder is refused, or made 0700 (``make_dirs``) and logged;
- the file itself is opened with O_NOFOLLOW (never through a symbolic link), O_NONBLOCK (a
  FIFO cannot block the open) and O_NOCTTY, then checked on its open descriptor (no race
  between check and use): a regular file (or a character device such as /dev/null, where
  the caller allows it), owned by the controller's user (or root, for files the operator
  writes: config, TLS), not writable by group or others, and, when written, with no other
  hard link;
- a file in a folder that others can write to (sticky or not) is refused unless the operator
  named it explicitly (``shared_dir_ok``).

A refusal is ``UntrustedFile``: the path, and the reason as one line.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from typing import Literal

from ringleader.errors import RingleaderError

__all__ = ["MAX_CONFIG_BYTES", "UntrustedFile", "default_location", "make_private_dirs",
           "open_folder", "open_trusted", "read_trusted", "read_trusted_text", "runtime_dir",
           "temp_prefix", "write_atomically"]

log = logging.getLogger("ringleader.files")

MAX_CONFIG_BYTES = 1 << 20

Mode = Literal["r", "a", "w"]
# Who may own the file: the controller's user only ("self": files the controller writes),
# or also root ("self_or_root": files the operator writes for it).
Owner = Literal["self", "self_or_root"]

_MODE_FLAGS = {"r": os.O_RDONLY, "a": os.O_WRONLY | os.O_APPEND, "w": os.O_WRONLY}
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


class UntrustedFile(RingleaderError):
    """A file or folder the controller will not use. ``str()`` is the reason (without the
    path), ``path`` the file or folder it is about."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def check_file(st: os.stat_result, *, owner: Owner = "self", devices: bool = False,
               writing: bool = False) -> str | None:
    """Why a file with this stat may not be used, or None (pure)."""
    if devices and stat.S_ISCHR(st.st_mode):
        return None  # /dev/null and the like: only root can make device nodes
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        return kind if kind == "not a regular file" else f"{kind}, not a regular file"
    euid = os.geteuid()
    mode = stat.S_IMODE(st.st_mode)
    if owner == "self" and st.st_uid != euid:
        return (f"owned by uid {st.st_uid}, not by the controller's user (uid {euid}): "
                "another user could choose what it says")
    if owner == "self_or_root" and st.st_uid not in (0, euid):
        return (f"owned by uid {st.st_uid}, expected root or uid {euid} (the user reading "
                "it): another user could choose what runs")
    if mode & stat.S_IWOTH:
        return f"writable by every user (mode {mode:04o}); chmod o-w it"
    if mode & stat.S_IWGRP and (owner == "self" or (euid == 0 and st.st_gid != 0)):
        return f"writable by group {st.st_gid} (mode {mode:04o}); chmod g-w it"
    if writing and st.st_nlink > 1:
        return (f"has {st.st_nlink} hard links: another name of it could be a file the "
                "controller must not write")
    return None


def _others_can_replace(st: os.stat_result) -> bool:
    """Can a user other than root and us rename or replace entries of this folder?"""
    if st.st_uid not in (0, os.geteuid()):
        return True
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)) and not st.st_mode & stat.S_ISVTX


def _shared(st: os.stat_result) -> bool:
    """A folder others may write to (sticky or not), or owned by another user."""
    return st.st_uid not in (0, os.geteuid()) or bool(st.st_mode & stat.S_IWOTH) or (
        bool(st.st_mode & stat.S_IWGRP) and st.st_gid != 0)


def _components(path: str) -> list[str]:
    return [part for part in os.path.normpath(os.path.abspath(path)).split(os.sep) if part]


def open_folder(path: str, *, create: bool = False, shared_ok: bool = True,
                mode: int = 0o700) -> int:
    """A descriptor of the folder `path` (for ``dir_fd=``), reached from ``/`` one
    component at a time (see the module's docstring). `create`: make missing folders with
    `mode` (0700; each logged). `shared_ok`: else a folder others may write to is refused."""
    euid = os.geteuid()
    fd = os.open("/", _DIR_FLAGS)
    done = "/"
    try:
        parent = os.fstat(fd)
        for name in _components(path):
            here = os.path.join(done, name)
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise UntrustedFile(here, "no such folder") from None
                try:
                    os.mkdir(name, mode & 0o750, dir_fd=fd)  # never others' access
                except FileExistsError:
                    pass  # made meanwhile: checked below like any other
                else:
                    log.warning("created folder %s (mode %04o)", here, mode & 0o750)
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid not in (0, euid):
                    raise UntrustedFile(here, f"a symbolic link owned by uid {st.st_uid}; "
                                        "refusing to follow it: name the real folder")
                if _others_can_replace(parent):
                    raise UntrustedFile(here, "a symbolic link in a folder others can "
                                        "write to; refusing to follow it: name the real "
                                        "folder")
            elif not stat.S_ISDIR(st.st_mode):
                raise UntrustedFile(here, f"{_kind(st.st_mode)}, not a folder")
            try:
                new = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UntrustedFile(here, f"cannot open: {exc.strerror or exc}") from None
            os.close(fd)
            fd = new
            opened = os.fstat(fd)
            if not stat.S_ISLNK(st.st_mode) and (opened.st_dev, opened.st_ino) != (
                    st.st_dev, st.st_ino):
                raise UntrustedFile(here, "replaced while being opened")
            parent, done = opened, here
        if not shared_ok and _shared(parent):
            raise UntrustedFile(done, f"a folder other users can write to (mode "
                                f"{stat.S_IMODE(parent.st_mode):04o}, owner uid "
                                f"{parent.st_uid}): name the file explicitly, or use a "
                                "private folder")
        if _DIR_FLAGS & getattr(os, "O_PATH", 0):
            # An O_PATH descriptor cannot be fsync()ed nor listed: reopen the last one.
            try:
                readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                                   dir_fd=fd)
            except OSError:
                pass  # searchable but not readable: good enough for dir_fd
            else:
                os.close(fd)
                fd = readable
        return fd
    except BaseException:
        os.close(fd)
        raise


def make_private_dirs(path: str, mode: int = 0o700) -> None:
    """Make the folder `path` and the missing ones above it, `mode` (0700, or 0750 for a
    log folder), each logged; UntrustedFile if a component cannot be trusted or made."""
    try:
        os.close(open_folder(path, create=True, mode=mode))
    except OSError as exc:
        raise UntrustedFile(path, f"cannot make it: {exc.strerror or exc}") from None


def _open_error(path: str, name: str, dir_fd: int, exc: OSError) -> UntrustedFile:
    if exc.errno == errno.ENOENT:
        return UntrustedFile(path, "no such file")
    if exc.errno == errno.ELOOP:
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = "?"
        return UntrustedFile(path, f"a symbolic link (to {target}); refusing to follow it: "
                             "name the real file")
    if exc.errno == errno.ENXIO:  # O_WRONLY|O_NONBLOCK of a FIFO without a reader
        return UntrustedFile(path, "a FIFO (named pipe), not a regular file")
    if exc.errno == errno.EISDIR:
        return UntrustedFile(path, "a folder, not a regular file")
    return UntrustedFile(path, f"cannot open: {exc.strerror or exc}")


def open_trusted(path: str, mode: Mode = "r", *, create: bool = False, perm: int = 0o600,
                 owner: Owner = "self", devices: bool = False, shared_dir_ok: bool = False,
                 make_dirs: bool = False) -> int:
    """Open `path` (read, append, or write without truncating) after the checks of the
    module's docstring; returns the descriptor (non-blocking, close-on-exec). `create`:
    create it with `perm` if missing. `devices`: a character device is fine too.
    `shared_dir_ok`: the operator named the file, so a folder others may write to is
    accepted. `make_dirs`: missing folders are made 0700. Raises UntrustedFile. The
    descriptor is blocking (O_NONBLOCK served the open: a FIFO there would have blocked
    it); a blocking-capable open is still done off the event loop by the caller."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    if not name:
        raise UntrustedFile(path, "a folder, not a file")
    try:
        dir_fd = open_folder(folder, create=make_dirs, shared_ok=shared_dir_ok)
    except OSError as exc:
        raise UntrustedFile(folder, f"cannot open: {exc.strerror or exc}") from None
    try:
        flags = _OPEN_FLAGS | _MODE_FLAGS[mode] | (os.O_CREAT if create else 0)
        try:
            fd = os.open(name, flags, perm, dir_fd=dir_fd)
        except OSError as exc:
            raise _open_error(path, name, dir_fd, exc) from None
    finally:
        os.close(dir_fd)
    try:
        problem = check_file(os.fstat(fd), owner=owner, devices=devices,
                             writing=mode != "r")
    except BaseException:
        os.close(fd)
        raise
    if problem is not None:
        os.close(fd)
        raise UntrustedFile(path, problem)
    os.set_blocking(fd, True)  # O_NONBLOCK was for the open (a FIFO's) only
    return fd


def read_trusted(path: str, *, limit: int, owner: Owner = "self",
                 shared_dir_ok: bool = True) -> bytes:
    """The whole content of `path`, opened by ``open_trusted``, at most `limit` bytes (a
    bigger file is refused, also one that grows while read). Raises UntrustedFile."""
    fd = open_trusted(path, "r", owner=owner, shared_dir_ok=shared_dir_ok)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise UntrustedFile(path, f"{size} bytes, more than the {limit} it may have")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UntrustedFile(path, f"more than the {limit} bytes it may have")
        return b"".join(chunks)
    except OSError as exc:
        raise UntrustedFile(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_trusted_text(path: str, *, limit: int = MAX_CONFIG_BYTES,
                      owner: Owner = "self_or_root") -> str:
    """``read_trusted`` decoded as UTF-8 (a config file, by default: root's or ours)."""
    data = read_trusted(path, limit=limit, owner=owner)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedFile(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None


def temp_prefix(path: str) -> str:
    """Temporary files of ``write_atomically`` are named ``.NAME.PID.RANDOM.tmp``."""
    return f".{os.path.basename(path)}."


def write_atomically(path: str, data: bytes, *, perm: int = 0o600, shared_dir_ok: bool = True,
                     durable: bool = False) -> None:
    """Replace `path` with a file holding `data`, all at once: a fresh temporary file of
    ours in the same folder (O_EXCL|O_NOFOLLOW, a random name: nothing planted there is
    written through), renamed over `path` through a descriptor of the folder (reached like
    ``open_folder``). `durable`: fsync the file and the folder, so that after a crash the
    file is the old one or the new one. Raises OSError (then nothing changed)."""
    path = os.path.abspath(path)
    name = os.path.basename(path)
    try:
        dir_fd = open_folder(os.path.dirname(path), shared_ok=shared_dir_ok)
    except UntrustedFile as exc:
        raise OSError(f"{exc.path}: {exc}") from None
    try:
        # Not tempfile: it would import shutil and random into the controller.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            tmp = f"{temp_prefix(path)}{os.getpid()}.{os.urandom(4).hex()}.tmp"
            try:
                fd = os.open(tmp, flags, perm, dir_fd=dir_fd)
                break
            except FileExistsError:
                continue
        try:
            try:
                os.fchmod(fd, perm)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        if durable:  # the rename is durable only once the folder entry is
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def runtime_dir() -> str:
    """The controller's private folder for files that have no better home: /run/ringleader
    for root, $XDG_RUNTIME_DIR/ringleader (else ~/.local/state/ringleader) for a user."""
    if os.geteuid() == 0:
        return "/run/ringleader"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "ringleader")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, "ringleader")


def _private(folder: str) -> bool:
    """Only root and we can write to `folder`, and we can."""
    try:
        os.close(open_folder(folder, shared_ok=False))
    except (OSError, UntrustedFile):
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def default_location(anchor: str | None, name: str, *, key: str) -> str:
    """Where a controller file (state, audit log) goes when the operator did not say:
    `name` in the folder `anchor` (the config file's) when only root or we can write there
    (and we can), else in ``runtime_dir()`` under a name made unique by `key` (the path it
    belongs to, so that two controllers never share it)."""
    if anchor is not None and _private(anchor):
        return os.path.join(anchor, name)
    try:  # CPython's own BLAKE2: hashlib would map libcrypto into the controller
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b

    digest = blake2b(os.path.abspath(key).encode(), digest_size=4).hexdigest()
    stem, dot, ext = name.rpartition(".")
    unique = f"{stem}-{digest}.{ext}" if dot else f"{name}-{digest}"
    return os.path.join(runtime_dir(), unique)
