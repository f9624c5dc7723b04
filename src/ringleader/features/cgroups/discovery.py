"""What this host offers for cgroups, and the names that keep two controllers' cgroups
apart. Nothing is kept here between calls: the host is probed when asked (a read of
/proc/self/mountinfo, once per watcher's cgroup at its start), and an instance name is
the controller's pid with a random number."""

from __future__ import annotations

import os

from ringleader.features.cgroups.fs import Host

__all__ = ["detect", "host", "new_instance"]


def new_instance() -> str:
    """A name for one controller's cgroups, unique among live controllers: its pid (which
    the sweep checks for life) and a random number (two Arbiters in one process get two)."""
    return f"{os.getpid()}-{int.from_bytes(os.urandom(4), 'big')}"


def host() -> Host:
    """What this host offers, probed now."""
    try:
        return Host.probe()
    except OSError:
        return Host()


def detect() -> str:
    """One line on what this host offers (v2 and its controllers, v1 mounts)."""
    return host().describe()
