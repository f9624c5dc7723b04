"""Reading a foreign config file (supervisord.conf and its includes, a Procfile, a ``.env``)
that the controller, often root, will act on: the file decides which commands run as whom.

So it must be what it claims to be and be writable only by people who could run those
commands anyway: the checks of ``ringleader.trusted_files`` for files the operator writes
(a regular file, not a symbolic link, owned by root or by the user reading it, not
writable by others, of a sane size, UTF-8). Native config files go through the same.
"""

from __future__ import annotations

from ringleader.trusted_files import MAX_CONFIG_BYTES, UntrustedFile, read_trusted_text

__all__ = ["MAX_CONFIG_BYTES", "UntrustedFile", "read_config_text"]


def read_config_text(path: str) -> str:
    """The text of *path*, or UntrustedFile saying why not (missing, a symlink, not a regular
    file, owned or writable by another user, too big, not UTF-8)."""
    return read_trusted_text(path, limit=MAX_CONFIG_BYTES, owner="self_or_root")
