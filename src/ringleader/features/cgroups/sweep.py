"""Sweeping the cgroups of dead controllers.

A controller's cgroups live under ``<parent>/<pid>-<n>/<watcher>``
(``discovery.new_instance``). When it is killed, its guardian kills and removes them; if
the guardian was killed too (or the host lost power mid-way), the folders and whatever
still runs in them are left.
The next controller using the same `parent` sweeps them at its start: an instance whose
controller is gone (no live process with that pid, or a younger one that reused it) is
emptied (frozen and killed, or `cgroup.kill`) and removed. Controllers in different pid
namespaces sharing a cgroup hierarchy must use different parents.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict

from ringleader.features.cgroups.discovery import host
from ringleader.features.cgroups.fs import V1_JOINED, Host, split_parent
from ringleader.features.cgroups.group import Cgroup, CgroupError
from ringleader.proc.procfs import started_before

log = logging.getLogger("ringleader.cgroups")

_INSTANCE = re.compile(r"^(\d+)-\d+$")


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def stale_instances(base: str) -> list[str]:
    """The instance folders under `base` (one parent folder in one hierarchy) whose
    controller is dead."""
    stale = []
    for name in _listdir(base):
        match = _INSTANCE.match(name)
        path = os.path.join(base, name)
        if match is None or not os.path.isdir(path):
            continue
        try:
            made_at = os.stat(path).st_ctime
        except OSError:
            continue
        if not started_before(int(match.group(1)), made_at):
            stale.append(name)
    return stale


def _leftovers(parent: list[str], h: Host) -> list[Cgroup]:
    """The watcher cgroups of dead controllers under `parent`, as Cgroup objects (v1:
    one per (instance, watcher) across the hierarchies)."""
    found: list[Cgroup] = []
    if h.v2 is not None:
        base = os.path.join(h.v2, *parent)
        for inst in stale_instances(base):
            for watcher in _listdir(os.path.join(base, inst)):
                path = os.path.join(base, inst, watcher)
                if os.path.isdir(path):
                    found.append(Cgroup(watcher, 2, path, {"": path}, path))
    v1: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for controller in V1_JOINED:
        mount = h.v1.get(controller)
        if mount is None:
            continue
        base = os.path.join(mount, *parent)
        for inst in stale_instances(base):
            for watcher in _listdir(os.path.join(base, inst)):
                path = os.path.join(base, inst, watcher)
                if os.path.isdir(path):
                    v1[(inst, watcher)][controller] = path
    for (inst, watcher), dirs in v1.items():
        track = dirs.get("freezer") or next(iter(dirs.values()))
        desc = f"v1:{','.join(dirs)}:/{'/'.join([*parent, inst, watcher])}"
        found.append(Cgroup(watcher, 1, desc, dirs, track))
    return found


def _remove_empty_instances(parent: list[str], h: Host) -> None:
    mounts = {*h.v1.values(), *([h.v2] if h.v2 is not None else [])}
    for mount in mounts:
        base = os.path.join(mount, *parent)
        for inst in stale_instances(base):
            try:
                os.rmdir(os.path.join(base, inst))
            except OSError:
                pass  # not empty (a watcher folder that could not go): logged before


async def sweep_stale(parent: str, *, on: Host | None = None) -> list[str]:
    """Empty and remove the cgroups dead controllers left under `parent`; one line per
    cgroup swept (for the log)."""
    levels = split_parent(parent)
    if isinstance(levels, str):
        return []  # refused by Cgroup.create too, with the reason
    h = on if on is not None else host()
    notes = []
    for cg in _leftovers(levels, h):
        count = len(cg.pids())
        try:
            await cg.kill_all()
            cg.remove()
        except (TimeoutError, CgroupError, OSError) as exc:
            notes.append(f"cgroup {cg.path} of a dead controller: cannot sweep it: {exc}")
            continue
        notes.append(f"cgroup {cg.path} of a dead controller swept ({count} "
                     f"process(es) killed)")
    _remove_empty_instances(levels, h)
    return notes
