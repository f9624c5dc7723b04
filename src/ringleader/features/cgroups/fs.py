"""The host side of cgroups, kept pure where it can be: where the hierarchies are mounted
and what they offer (from /proc/self/mountinfo), which version a watcher gets, and how a
CgroupConfig maps onto the kernel's files. ``cgroups.Cgroup`` does the I/O on live groups.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ringleader.config.features import CgroupConfig

MOUNTINFO = "/proc/self/mountinfo"
# The controllers a CgroupConfig can ask for (memory_limit, cpu_*, pids_limit).
LIMIT_CONTROLLERS = ("memory", "cpu", "pids")
# v1 hierarchies a watcher joins, in joining order: memory first so that everything the
# program allocates is charged; freezer is what kill_all freezes; cpuacct gives cpu usage.
V1_JOINED = ("memory", "cpu", "cpuacct", "pids", "freezer")
CFS_PERIOD_US = 100_000
CFS_MIN_QUOTA_US = 1_000  # the kernel refuses less
V1_DEFAULT_SHARES = 1024
V2_DEFAULT_WEIGHT = 100


@dataclass(frozen=True, slots=True)
class Mount:
    path: str
    version: int  # 1 or 2
    controllers: frozenset[str]  # v1: from the super options; v2: empty (read at the root)
    readonly: bool


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(path):
        code = path[i + 1:i + 4]
        if path[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup mounts in a /proc/self/mountinfo text, in order."""
    mounts = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, tail = pre.split(), post.split()
        if len(fields) < 6 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        readonly = "ro" in fields[5].split(",")
        if tail[0] == "cgroup2":
            mounts.append(Mount(_unescape(fields[4]), 2, frozenset(), readonly))
        else:
            opts = set(tail[2].split(",")) - {"rw", "ro"}
            controllers = frozenset(o for o in opts if "=" not in o and o in _V1_KNOWN)
            if controllers:
                mounts.append(Mount(_unescape(fields[4]), 1, controllers, readonly))
    return mounts


_V1_KNOWN = frozenset({
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
    "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
})


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


@dataclass(frozen=True, slots=True)
class Host:
    """What this host offers. ``v2``: the unified hierarchy's mount point (None: none);
    ``v2_controllers``: those available at its root; ``v1``: controller -> mount point."""

    v2: str | None = None
    v2_controllers: frozenset[str] = frozenset()
    v2_readonly: bool = False
    v1: dict[str, str] = field(default_factory=dict)
    v1_readonly: frozenset[str] = frozenset()

    @classmethod
    def probe(cls, mountinfo: str | None = None,
              read: Callable[[str], str] = _read_text) -> Host:
        text = read(MOUNTINFO) if mountinfo is None else mountinfo
        v2: str | None = None
        v2_ro = False
        v1: dict[str, str] = {}
        v1_ro: set[str] = set()
        for m in parse_mountinfo(text):
            if m.version == 2:
                if v2 is None:
                    v2, v2_ro = m.path, m.readonly
                continue
            for c in m.controllers:
                if c not in v1:
                    v1[c] = m.path
                    if m.readonly:
                        v1_ro.add(c)
        controllers: frozenset[str] = frozenset()
        if v2 is not None:
            try:
                controllers = frozenset(read(os.path.join(v2, "cgroup.controllers")).split())
            except OSError:
                pass
        return cls(v2, controllers, v2_ro, v1, frozenset(v1_ro))

    def describe(self) -> str:
        v2 = "no cgroup v2"
        if self.v2 is not None:
            names = " ".join(sorted(self.v2_controllers)) or "none"
            v2 = f"cgroup v2 at {self.v2}{' (read-only)' if self.v2_readonly else ''}" \
                 f" with controllers: {names}"
        v1 = "no cgroup v1"
        if self.v1:
            names = " ".join(c + ("(ro)" if c in self.v1_readonly else "")
                             for c in sorted(self.v1))
            v1 = f"cgroup v1 controllers: {names}"
        return f"{v2}; {v1}"

    def v2_usable(self, needed: set[str]) -> str | None:
        """None if v2 can hold a watcher needing these controllers, else why not."""
        if self.v2 is None:
            return "no cgroup v2 hierarchy is mounted"
        if self.v2_readonly:
            return f"cgroup v2 at {self.v2} is read-only"
        missing = needed - self.v2_controllers
        if missing:
            return f"cgroup v2 lacks controller(s) {', '.join(sorted(missing))}" \
                   f" (available: {' '.join(sorted(self.v2_controllers)) or 'none'})"
        return None

    def v1_usable(self, needed: set[str]) -> str | None:
        if not self.v1:
            return "no cgroup v1 hierarchy is mounted"
        missing = needed - set(self.v1)
        if missing:
            return f"cgroup v1 lacks controller(s) {', '.join(sorted(missing))}"
        joined = [c for c in V1_JOINED if c in self.v1]
        if not joined:
            return "cgroup v1 has none of " + ", ".join(V1_JOINED)
        ro = (needed | {"freezer"}) & self.v1_readonly & set(joined)
        if ro:
            return f"cgroup v1 controller(s) {', '.join(sorted(ro))} mounted read-only"
        return None

    def choose(self, cfg: CgroupConfig) -> tuple[int | None, str]:
        """(version, reason): v2 when it has every controller the config needs and offers
        at least as many of memory/cpu/pids as v1 (so that live `set` of a limit and the
        stats keep working); else v1; (None, why) when neither can serve."""
        needed = needed_controllers(cfg)
        no2, no1 = self.v2_usable(needed), self.v1_usable(needed)
        if no2 is None and no1 is None:
            offer2 = len(set(LIMIT_CONTROLLERS) & self.v2_controllers)
            offer1 = len(set(LIMIT_CONTROLLERS) & set(self.v1))
            return (2, "") if offer2 >= offer1 else (1, "")
        if no2 is None:
            return 2, ""
        if no1 is None:
            return 1, ""
        return None, f"{no2}; {no1}"


def needed_controllers(cfg: CgroupConfig) -> set[str]:
    needed = set()
    if cfg.memory_limit is not None:
        needed.add("memory")
    if cfg.cpu_quota is not None or cfg.cpu_weight is not None:
        needed.add("cpu")
    if cfg.pids_limit is not None:
        needed.add("pids")
    return needed


def check_component(what: str, name: str) -> str | None:
    """None if `name` can be one directory level of a cgroup path, else why not."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or "\n" in name:
        return f"{what} {name!r} cannot name a cgroup"
    return None


def split_parent(parent: str) -> list[str] | str:
    """The levels of a parent path (relative to the hierarchy root; a leading / is
    allowed), or why it is refused (it must stay inside the hierarchy)."""
    parts = [p for p in parent.strip("/").split("/") if p]
    for p in parts:
        bad = check_component("parent", p)
        if bad is not None:
            return f"parent {parent!r}: {bad}"
    return parts


def cfs_quota_us(cpus: float) -> int:
    return max(CFS_MIN_QUOTA_US, round(cpus * CFS_PERIOD_US))


def weight_to_shares(weight: int) -> int:
    """cpu.weight (1..10000, default 100) -> v1 cpu.shares (default 1024), linearly:
    weight * 1024 / 100, so the defaults match and ratios between watchers are kept
    (systemd maps differently, but only ratios matter to the scheduler). Min 2."""
    return max(2, round(weight * V1_DEFAULT_SHARES / V2_DEFAULT_WEIGHT))


def v2_settings(cfg: CgroupConfig) -> list[tuple[str, str, str]]:
    """(controller, file, value) for every limit, unset ones back to the kernel default."""
    quota = "max" if cfg.cpu_quota is None else str(cfs_quota_us(cfg.cpu_quota))
    return [
        ("memory", "memory.max", "max" if cfg.memory_limit is None else str(cfg.memory_limit)),
        ("cpu", "cpu.max", f"{quota} {CFS_PERIOD_US}"),
        ("cpu", "cpu.weight", str(cfg.cpu_weight or V2_DEFAULT_WEIGHT)),
        ("pids", "pids.max", "max" if cfg.pids_limit is None else str(cfg.pids_limit)),
    ]


def v1_settings(cfg: CgroupConfig) -> list[tuple[str, str, str]]:
    shares = V1_DEFAULT_SHARES if cfg.cpu_weight is None else weight_to_shares(cfg.cpu_weight)
    return [
        ("memory", "memory.limit_in_bytes",
         "-1" if cfg.memory_limit is None else str(cfg.memory_limit)),
        ("cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US)),
        ("cpu", "cpu.cfs_quota_us",
         "-1" if cfg.cpu_quota is None else str(cfs_quota_us(cfg.cpu_quota))),
        ("cpu", "cpu.shares", str(shares)),
        ("pids", "pids.max", "max" if cfg.pids_limit is None else str(cfg.pids_limit)),
    ]


def join_script(procs_files: list[str], drop: list[str] | None = None) -> str:
    """The trampoline: the shell writes its own pid into each cgroup.procs, then execs the
    program (same pid), which thus starts inside. A failed write ends it (exit 126)
    rather than run it uncontained. `drop`: a setpriv command line to change user after
    joining (as root), for watchers with a uid/gid."""
    joins = " && ".join(f"echo $$ > {shlex.quote(p)}" for p in procs_files)
    prefix = " ".join(shlex.quote(a) for a in drop) + " " if drop else ""
    return f'{{ {joins}; }} || exit 126; exec {prefix}"$@"'


def parse_keyed(text: str) -> dict[str, int]:
    """`key value` lines (memory.events, cpu.stat, memory.oom_control) -> dict."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def setpriv_argv(user: int | None, group: int | None,
                 extra_groups: Sequence[int] | None) -> list[str] | None:
    """setpriv's command line taking this identity (None: no setpriv on this host)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    cmd = [setpriv]
    if group is not None:
        cmd.append(f"--regid={group}")
    if extra_groups is not None:
        cmd.append(f"--groups={','.join(map(str, extra_groups))}" if extra_groups
                   else "--clear-groups")
    if user is not None:
        cmd.append(f"--reuid={user}")
    cmd.append("--")
    return cmd
