"""A cgroup of a watcher's own: every process it starts, with all their descendants
(daemonized, setsid'd or not), is contained, limited, counted and killed as one.

Layout: ``<parent>/<instance>/<watcher>`` under each hierarchy's root, where ``parent`` is
CgroupConfig.parent ("ringleader") and ``instance`` names one live controller
(``discovery.new_instance()``: "<pid>-<n>", so that two controllers, or two Arbiters in one
process, never share a cgroup).

Version: cgroup v2 when its hierarchy has every controller the config needs (and offers
as many of memory/cpu/pids as v1 does), else cgroup v1 (see ``Host.choose``). v1 joins
one cgroup per hierarchy (memory, cpu, cpuacct, pids, freezer), all with the same path.

Joining happens before the program's first instruction without giving up vfork: the
command is wrapped (``wrap_argv``) in ``/bin/sh -c 'echo $$ > .../cgroup.procs && exec
"$@"'``, so the shell moves itself in and then execs the program under the same pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
from collections.abc import Callable, Sequence

from ringleader.config.features import CgroupConfig
from ringleader.errors import RingleaderError
from ringleader.features.cgroups.discovery import host
from ringleader.features.cgroups.fs import (
    V1_JOINED,
    Host,
    check_component,
    join_script,
    needed_controllers,
    parse_keyed,
    setpriv_argv,
    split_parent,
    v1_settings,
    v2_settings,
)

__all__ = ["Cgroup", "CgroupError", "CgroupUnavailable"]

TRAMPOLINE_NAME = "ringleader-cgroup"  # the shell's $0: prefixes its error messages


class CgroupError(RingleaderError):
    """An operation on a live cgroup failed (a limit refused, a group still busy)."""


class CgroupUnavailable(CgroupError):
    """No cgroup can be made for this watcher here; the message is the one-line reason.
    The engine then runs the watcher without containment (and logs it)."""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _mkdirs(base: str, levels: Sequence[str]) -> str:
    path = base
    for level in levels:
        path = os.path.join(path, level)
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                         path) from None
    return path


class Cgroup:
    __slots__ = ("_dirs", "_track", "path", "version", "watcher")

    def __init__(self, watcher: str, version: int, path: str, dirs: dict[str, str],
                 track: str) -> None:
        self.watcher = watcher
        self.version = version
        self.path = path  # v2: the directory; v1: "v1:<controllers>:/<relative path>"
        self._dirs = dirs  # controller -> its directory (v2: the same leaf for all)
        self._track = track  # the directory whose cgroup.procs lists the processes

    def __repr__(self) -> str:
        return f"<Cgroup v{self.version} {self.path}>"

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def create(cls, watcher: str, cfg: CgroupConfig, *, instance: str,
               version: int | None = None, on: Host | None = None) -> Cgroup:
        """Make (or reuse) the watcher's cgroup and apply the limits. `version` forces
        1 or 2 (tests); `on` replaces the probed host. Raises CgroupUnavailable."""
        for what, name in (("watcher", watcher), ("instance", instance)):
            bad = check_component(what, name)
            if bad is not None:
                raise CgroupUnavailable(bad)
        parent = split_parent(cfg.parent)
        if isinstance(parent, str):
            raise CgroupUnavailable(parent)
        h = on if on is not None else host()
        needed = needed_controllers(cfg)
        if version is None:
            version, why = h.choose(cfg)
            if version is None:
                raise CgroupUnavailable(f"no usable cgroup: {why}")
        else:
            no = h.v2_usable(needed) if version == 2 else h.v1_usable(needed)
            if no is not None:
                raise CgroupUnavailable(no)
        levels = [*parent, instance, watcher]
        cg = cls._create_v2(watcher, h, levels, needed) if version == 2 \
            else cls._create_v1(watcher, h, levels, needed)
        try:
            cg.apply(cfg)
        except CgroupError as exc:
            with contextlib.suppress(CgroupError):
                cg.remove()
            raise CgroupUnavailable(str(exc)) from exc
        return cg

    @classmethod
    def _create_v2(cls, watcher: str, h: Host, levels: list[str], needed: set[str]) -> Cgroup:
        assert h.v2 is not None
        path = os.path.join(h.v2, *levels)
        at = h.v2
        try:
            for level in levels:
                # A controller reaches a cgroup only if every ancestor delegates it.
                _enable_v2(at, needed)
                at = _mkdirs(at, [level])
            enabled = set(_read(os.path.join(path, "cgroup.controllers")).split())
        except OSError as exc:
            raise CgroupUnavailable(f"cannot create cgroup {path}: {exc.strerror}") from exc
        missing = needed - enabled
        if missing:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            raise CgroupUnavailable(f"controller(s) {', '.join(sorted(missing))} not "
                                    f"delegated to {path}")
        return cls(watcher, 2, path, dict.fromkeys(enabled, path), path)

    @classmethod
    def _create_v1(cls, watcher: str, h: Host, levels: list[str], needed: set[str]) -> Cgroup:
        dirs: dict[str, str] = {}
        for c in V1_JOINED:
            mount = h.v1.get(c)
            if mount is None or (c in h.v1_readonly and c not in needed):
                continue
            try:
                dirs[c] = _mkdirs(mount, levels)
            except OSError as exc:
                if c in needed or c == "freezer":
                    for made in set(dirs.values()):
                        with contextlib.suppress(OSError):
                            os.rmdir(made)
                    path = os.path.join(mount, *levels)
                    raise CgroupUnavailable(
                        f"cannot create cgroup {path}: {exc.strerror}") from exc
        if not dirs:
            raise CgroupUnavailable("no cgroup v1 hierarchy could be used")
        track = dirs.get("freezer") or next(iter(dirs.values()))
        desc = f"v1:{','.join(dirs)}:/{'/'.join(levels)}"
        return cls(watcher, 1, desc, dirs, track)

    # -- limits -----------------------------------------------------------------------

    def apply(self, cfg: CgroupConfig) -> None:
        """Set every limit of `cfg` (unset ones back to unlimited/default), live."""
        needed = needed_controllers(cfg)
        settings = v2_settings(cfg) if self.version == 2 else v1_settings(cfg)
        for controller, name, value in settings:
            d = self._dirs.get(controller)
            if d is None:
                if controller in needed:
                    raise CgroupError(f"{self.path}: cannot set {name}: controller "
                                      f"{controller} not available in this cgroup")
                continue
            try:
                _write(os.path.join(d, name), value)
            except OSError as exc:
                raise CgroupError(f"{self.path}: cannot set {name} to {value}: "
                                  f"{exc.strerror}") from exc

    # -- spawning ---------------------------------------------------------------------

    def procs_files(self) -> list[str]:
        """The cgroup.procs files a process writes itself into to join (one per v1
        hierarchy; deduplicated where controllers share one)."""
        seen: dict[str, None] = {}
        for c in V1_JOINED if self.version == 1 else ():
            if c in self._dirs:
                seen.setdefault(self._dirs[c], None)
        dirs = list(seen) if self.version == 1 else [self._track]
        return [os.path.join(d, "cgroup.procs") for d in dirs]

    def wrap_argv(self, argv: Sequence[str], *, executable: str | None = None,
                  user: int | None = None, group: int | None = None,
                  extra_groups: Sequence[int] | None = None) -> list[str]:
        """argv that starts `argv` already inside this cgroup (see module doc). Spawn it
        with executable "/bin/sh" (or None). `executable`: the resolved program, run in
        place of argv[0]. `user`/`group`/`extra_groups`: the identity to take *after*
        joining (as Popen's user=/group=/extra_groups= would; the spawn must then not
        pass those): v2 lets only root move a process out of root's cgroup."""
        program = [executable, *argv[1:]] if executable else list(argv)
        drop = None
        if user is not None or group is not None or extra_groups is not None:
            drop = setpriv_argv(user, group, extra_groups)
            if drop is None:
                raise CgroupError("setpriv (util-linux) not found: needed to run a "
                                  "contained watcher under another user")
        return ["/bin/sh", "-c", join_script(self.procs_files(), drop), TRAMPOLINE_NAME,
                *program]

    def folders(self) -> list[str]:
        """Its folders, the one whose processes are frozen and killed (the freezer's, or
        v2's only one) first: what the guardian kills and removes if we are killed."""
        return list(dict.fromkeys([self._track, *self._dirs.values()]))

    # -- observation ------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every process in the cgroup (descendants included), sorted."""
        try:
            text = _read(os.path.join(self._track, "cgroup.procs"))
        except FileNotFoundError:
            return []
        return sorted(int(p) for p in text.split())

    def stats(self) -> dict[str, int | float | None]:
        """memory_current/memory_peak (bytes), cpu_seconds, pids_current, oom_kills,
        processes; None where this host does not tell."""
        if self.version == 2:
            cpu = self._keyed("cpu", "cpu.stat", "usage_usec", any_dir=True)
            return {
                "memory_current": self._int("memory", "memory.current"),
                "memory_peak": self._int("memory", "memory.peak"),
                "cpu_seconds": None if cpu is None else cpu / 1e6,
                "pids_current": self._int("pids", "pids.current"),
                "oom_kills": self._keyed("memory", "memory.events", "oom_kill"),
                "processes": len(self.pids()),
            }
        usage = self._int("cpuacct", "cpuacct.usage")
        return {
            "memory_current": self._int("memory", "memory.usage_in_bytes"),
            "memory_peak": self._int("memory", "memory.max_usage_in_bytes"),
            "cpu_seconds": None if usage is None else usage / 1e9,
            "pids_current": self._int("pids", "pids.current"),
            "oom_kills": self._keyed("memory", "memory.oom_control", "oom_kill"),
            "processes": len(self.pids()),
        }

    def _file(self, controller: str, name: str, any_dir: bool = False) -> str | None:
        d = self._dirs.get(controller) or (self._track if any_dir else None)
        return None if d is None else os.path.join(d, name)

    def _int(self, controller: str, name: str) -> int | None:
        path = self._file(controller, name)
        try:
            return None if path is None else int(_read(path))
        except (OSError, ValueError):
            return None

    def _keyed(self, controller: str, name: str, key: str, any_dir: bool = False) -> int | None:
        path = self._file(controller, name, any_dir)
        try:
            return None if path is None else parse_keyed(_read(path)).get(key)
        except OSError:
            return None

    # -- stopping ---------------------------------------------------------------------

    async def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup and wait until it is empty. Raises
        TimeoutError if processes remain after `timeout` seconds."""
        if not os.path.isdir(self._track):
            return  # removed: nothing can be in it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._has_kill_file():
            # The kernel kills the whole group at once (Linux >= 5.14); written again
            # while anything is left (a fork racing it survived once, under load).
            kill = os.path.join(self._track, "cgroup.kill")
            _write(kill, "1")
            await self._wait_empty(deadline, timeout, again=lambda _: _write(kill, "1"))
            return
        freeze = self._freeze_files()
        if freeze is None:
            await self._wait_empty(deadline, timeout, again=_kill_each)
            return
        # Frozen, nothing forks nor exits: the pids we read are complete and cannot be
        # recycled by unrelated processes before our kill lands.
        file, frozen, thawed = freeze
        try:
            _write(file, frozen)
            await self._until(deadline, lambda: self._is_frozen(file, frozen))
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            _write(file, thawed)
        await self._wait_empty(deadline, timeout)

    def _has_kill_file(self) -> bool:
        return self.version == 2 and os.path.exists(os.path.join(self._track, "cgroup.kill"))

    def _freeze_files(self) -> tuple[str, str, str] | None:
        if self.version == 2:
            return os.path.join(self._track, "cgroup.freeze"), "1", "0"
        d = self._dirs.get("freezer")
        return None if d is None else (os.path.join(d, "freezer.state"), "FROZEN", "THAWED")

    def _is_frozen(self, file: str, frozen: str) -> bool:
        if self.version == 2:
            events = parse_keyed(_read(os.path.join(self._track, "cgroup.events")))
            return events.get("frozen") == 1
        return _read(file).strip() == frozen

    async def _until(self, deadline: float, done: Callable[[], bool]) -> bool:
        # A short poll with backoff: cgroup files are cheap to read, and this runs only
        # while a watcher stops.
        loop = asyncio.get_running_loop()
        delay = 0.001
        while not done():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    async def _wait_empty(self, deadline: float, timeout: float, *,
                          again: Callable[[list[int]], None] | None = None) -> None:
        def empty() -> bool:
            pids = self.pids()
            if pids and again is not None:  # kill again what is left, or forked meanwhile
                again(pids)
            return not pids

        if not await self._until(deadline, empty):
            raise TimeoutError(f"cgroup {self.path}: {len(self.pids())} process(es) "
                               f"still there after {timeout:g}s")

    def remove(self) -> None:
        """Delete the cgroup (it must be empty: kill_all first); idempotent. The
        instance level goes too once empty; the shared parent stays."""
        dirs = list(dict.fromkeys(self._dirs.values())) or [self._track]
        for d in dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    raise CgroupError(f"{self.path}: still has processes") from exc
                raise CgroupError(f"cannot remove {d}: {exc.strerror}") from exc
            with contextlib.suppress(OSError):  # other watchers may still be there
                os.rmdir(os.path.dirname(d))


def _enable_v2(path: str, needed: set[str]) -> None:
    """Delegate memory/cpu/pids from `path` to its children where available: what the
    config needs must succeed; the others are best effort (for stats and a later `set`)."""
    available = set(_read(os.path.join(path, "cgroup.controllers")).split())
    enabled = set(_read(os.path.join(path, "cgroup.subtree_control")).split())
    for c in ("memory", "cpu", "pids"):
        if c in available and c not in enabled:
            try:
                _write(os.path.join(path, "cgroup.subtree_control"), f"+{c}")
            except OSError as exc:
                if c in needed:
                    raise CgroupUnavailable(f"cannot enable {c} in {path}: "
                                            f"{exc.strerror}") from exc


def _kill_each(pids: list[int]) -> None:
    """No freezer, no cgroup.kill: SIGKILL to each process read from the cgroup."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
