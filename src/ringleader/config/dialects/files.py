"""Reading a foreign config file (supervisord.conf and its includes, a Procfile, a ``.env``)
that the controller, often root, will act on: the file decides which commands run as whom.

So it must be what it claims to be and be writable only by people who could run those
commands anyway: a regular file (a FIFO would block, a device is nonsense), not a symbolic
link (whose target someone else may swap), owned by root or by the user reading it, not
writable by others (nor by a group other than root's when we are root), of a sane size.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_CONFIG_BYTES = 1 << 20


class UntrustedFile(Exception):
    """The file cannot be used; the message is the reason (without the file name)."""


def _check(st: os.stat_result, euid: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedFile("not a regular file")
    if st.st_uid not in (0, euid):
        raise UntrustedFile(f"owned by uid {st.st_uid}, expected root or uid {euid} (the "
                            "user reading it): another user could choose what runs")
    if st.st_mode & stat.S_IWOTH:
        raise UntrustedFile(f"writable by every user (mode {stat.S_IMODE(st.st_mode):04o}); "
                            "chmod o-w it")
    if euid == 0 and st.st_mode & stat.S_IWGRP and st.st_gid != 0:
        raise UntrustedFile(f"writable by group {st.st_gid} (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}) and read by root; chmod g-w it")
    if st.st_size > MAX_CONFIG_BYTES:
        raise UntrustedFile(f"{st.st_size} bytes, more than the {MAX_CONFIG_BYTES} a config "
                            "file may have")


def read_config_text(path: str) -> str:
    """The text of *path*, or UntrustedFile saying why not (missing, a symlink, not a regular
    file, owned or writable by another user, too big, not UTF-8)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise UntrustedFile("no such file") from None
        if exc.errno == errno.ELOOP:
            raise UntrustedFile(f"a symbolic link (to {os.path.realpath(path)}); refusing to "
                                "follow it: name the real file") from None
        raise UntrustedFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        _check(os.fstat(fd), os.geteuid())
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:  # the file may grow after fstat
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise UntrustedFile(f"more than the {MAX_CONFIG_BYTES} bytes a config file may have")
    except OSError as exc:
        raise UntrustedFile(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedFile(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
