"""What this host offers for cgroups, probed once (mounts do not change under a
controller), and the names that keep two controllers' cgroups apart."""

from __future__ import annotations

import itertools
import os

from ringleader.features.cgroups.fs import Host

__all__ = ["detect", "host", "new_instance"]

_instances = itertools.count(1)
_host: Host | None = None


def new_instance() -> str:
    """A name for one controller's cgroups, unique among live controllers."""
    return f"{os.getpid()}-{next(_instances)}"


def host(refresh: bool = False) -> Host:
    """What this host offers (probed once: mounts do not change under a controller)."""
    global _host
    if _host is None or refresh:
        try:
            _host = Host.probe()
        except OSError:
            _host = Host()
    return _host


def detect() -> str:
    """One line on what this host offers (v2 and its controllers, v1 mounts)."""
    return host().describe()
