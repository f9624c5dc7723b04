"""The controller process's own limits and user (supervisord ``minfds``, ``minprocs``,
``user``): applied once, at start, before any file of the controller is opened."""

from __future__ import annotations

import os
import pwd
import resource

from ringleader.errors import RingleaderError

__all__ = ["drop_privileges", "raise_minimum"]


def raise_minimum(which: int, name: str, option: str, minimum: int) -> None:
    """Raise RLIMIT `which` to at least `minimum` (soft, and hard when root may), else
    RingleaderError saying how to get it."""
    soft, hard = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY or soft >= minimum:
        return
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= minimum else minimum
    try:
        resource.setrlimit(which, (minimum, new_hard))
    except (OSError, ValueError):
        raise RingleaderError(
            f"{option} = {minimum}: the {name} limit is {soft} (hard limit {hard}) and cannot "
            f"be raised by this user: raise it (ulimit) or start as root") from None


def drop_privileges(user: str) -> str | None:
    """Become `user` (name or uid): its groups, gid and uid. A controller that is not root
    may only be that user already. Returns a note for the log, or None when nothing
    changed; RingleaderError when it cannot."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        raise RingleaderError(f"user = {user}: no such user") from None
    if os.getuid() == entry.pw_uid:
        return None
    if os.geteuid() != 0:
        raise RingleaderError(f"user = {user}: only a controller started as root can switch "
                              f"to another user (this one runs as uid {os.getuid()})")
    os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    return f"running as user {entry.pw_name} (uid {entry.pw_uid})"
