"""The state file: runtime changes survive a controller restart.

Operations that change what runs (``add``, ``rm``, ``incr``, ``decr``, ``numprocesses``,
``set``, and an operator's ``start``/``stop`` of a watcher) are recorded by a
``StateRecorder`` and written to a JSON state file after each change (atomically: a
temporary file in the same directory, fsync, rename, fsync of the directory, so that the
file is always either the previous state or the new one, also after SIGKILL or a power
cut). When the controller starts again, ``apply_state`` lays the recorded changes over the
config file.

Precedence when the config file was edited meanwhile. The state remembers a digest of
each watcher's definition as the file gave it when the change was recorded:

- A watcher whose definition in the file did not change gets its runtime changes back
  (options set, numprocesses, removal, stopped/started by an operator).
- A watcher whose definition in the file changed (or that the file no longer defines):
  the file wins; its runtime changes are dropped, with a note in the log.
- A watcher added at runtime is restored, unless the file now defines a watcher of the
  same name: the file wins.
- ``reloadconfig`` follows the same rules: watchers whose definition changed in the
  file take the file's definition; the runtime changes of the others are kept.
- If the restored state would exceed ``max_processes``, or was recorded for another
  config file, it is ignored as a whole and the file is used as it is.
- A state file that is unreadable, corrupt or of an unknown version is ignored with a
  warning naming it (the controller starts from the config file alone).

Which watchers start at restore: those with ``autostart``, minus those an operator
stopped, plus those an operator started (``start_overrides``). This is kept out of the
watchers' options on purpose: a changed ``autostart`` would make ``reloadconfig`` see a
changed watcher and replace its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Mapping
from typing import Any

import msgspec

from ringleader.config.load import watcher_from_dict
from ringleader.config.model import Config, WatcherConfig
from ringleader.errors import ConfigError

log = logging.getLogger("ringleader.statefile")

STATE_VERSION = 1


class RuntimeState(msgspec.Struct, kw_only=True):
    """What is persisted. Option dicts use the config file's option names."""

    version: int = STATE_VERSION
    source: str | None = None          # the config file it was recorded against
    config_digest: str = ""            # BLAKE2b of the file's watchers as loaded
    watcher_digests: dict[str, str] = {}  # per watcher: what the precedence rules compare
    added: dict[str, dict[str, Any]] = {}  # name -> options (watcher_to_dict)
    removed: list[str] = []            # config watchers removed at runtime
    overrides: dict[str, dict[str, Any]] = {}  # config watcher -> options changed at runtime
    stopped: list[str] = []            # stopped by an operator: not started at restore
    started: list[str] = []            # started by an operator: started at restore


class _Header(msgspec.Struct):
    version: int


# -- digests ----------------------------------------------------------------------------

def _encode(value: object) -> bytes:
    # Deterministic (sorted dict keys) so that the digest of an unchanged definition
    # does not depend on dict order.
    return msgspec.json.encode(value, order="deterministic")


def _digest(data: bytes) -> str:
    # BLAKE2 from CPython's own _blake2 module: importing hashlib would map libcrypto
    # into every controller (about 4 MB) just to compare configurations.
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter without it
        from hashlib import blake2b
    return blake2b(data, digest_size=32).hexdigest()


def watcher_digest(cfg: WatcherConfig) -> str:
    return _digest(_encode(cfg))


def config_digest(config: Config) -> str:
    return _digest(_encode(config.watchers))


def _options(cfg: WatcherConfig, *, changed_only: bool = True) -> dict[str, Any]:
    from ringleader.engine.watcher import watcher_to_dict  # the engine module, imported late

    return watcher_to_dict(cfg, changed_only=changed_only)


def _apply_options(cfg: WatcherConfig, changes: Mapping[str, Any]) -> WatcherConfig:
    # The same merge as Watcher.set_options, so that a restore gives what `set` gave.
    merged = {**_options(cfg), **changes, "name": cfg.name}
    return watcher_from_dict(merged, where=f"watcher {cfg.name} (state file)")


# -- file I/O ---------------------------------------------------------------------------

def load_state(path: str) -> RuntimeState | None:
    """The state in `path`; None if there is none, or (with a warning naming the file) if
    it cannot be read or used. Never raises. Called once at start-up, it also removes
    temporary files left by a save that was killed midway."""
    _remove_stale_temps(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("state file %s: cannot read it (%s): ignored", path, exc.strerror or exc)
        return None
    try:
        header = msgspec.json.decode(data, type=_Header)
        if header.version != STATE_VERSION:
            log.warning("state file %s: unknown version %r (this controller writes %d): "
                        "ignored", path, header.version, STATE_VERSION)
            return None
        return msgspec.json.decode(data, type=RuntimeState)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("state file %s: corrupt (%s): ignored", path, exc)
        return None


_temp_counter = itertools.count()


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _remove_stale_temps(path: str) -> None:
    directory, prefix = os.path.dirname(os.path.abspath(path)), _temp_prefix(path)
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def save_state(path: str, state: RuntimeState) -> None:
    """Write `state` to `path` atomically and durably; OSError is raised (the previous
    file, if any, is then left as it was)."""
    directory = os.path.dirname(os.path.abspath(path))
    data = msgspec.json.format(_encode(state), indent=1)
    # A fresh name (O_EXCL: two writers never share a temp file), mode 0600 (runtime-set
    # env may hold secrets). Not tempfile: it would import shutil and random.
    prefix = os.path.join(directory, _temp_prefix(path))
    while True:
        tmp = f"{prefix}{os.getpid()}.{next(_temp_counter)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory entry is.
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -- applying a state -------------------------------------------------------------------

class _Resolution(msgspec.Struct, kw_only=True):
    watchers: list[WatcherConfig]
    notes: list[str]
    start: dict[str, bool]


def _show(value: Any) -> str:
    return msgspec.json.encode(value).decode() if not isinstance(value, str) else value


def _resolve(config: Config, state: RuntimeState) -> _Resolution:
    notes: list[str] = []
    if state.source != config.source:
        notes.append(f"ignored: the state was recorded for config {state.source or '(none)'}, "
                     f"not {config.source or '(none)'}")
        return _Resolution(watchers=list(config.watchers), notes=notes, start={})
    file = {w.name: w for w in config.watchers}
    unchanged = {name for name, w in file.items()
                 if state.watcher_digests.get(name) == watcher_digest(w)}

    def gone(name: str) -> str:
        return ("its definition in the config file changed" if name in file
                else "the config file no longer defines it")

    removed = set(state.removed)
    stopped, started = set(state.stopped), set(state.started)
    watchers: list[WatcherConfig] = []
    kept_names: set[str] = set()  # watchers whose runtime start/stop is honoured
    for name, cfg in file.items():
        if name in removed:
            if name in unchanged:
                notes.append(f"restored: {name} removed")
                continue
            notes.append(f"ignored: removal of {name}: {gone(name)}")
        changes = state.overrides.get(name)
        if changes and name not in unchanged:
            notes.append(f"ignored: runtime changes to {name} ({', '.join(sorted(changes))}): "
                         f"{gone(name)}")
        elif changes:
            try:
                new = _apply_options(cfg, changes)
            except ConfigError as exc:
                notes.append(f"ignored: runtime changes to {name}: {'; '.join(exc.problems)}")
            else:
                before = _options(cfg, changed_only=False)
                after = _options(new, changed_only=False)
                for key in sorted(set(before) | set(after)):
                    if before.get(key) != after.get(key):
                        notes.append(f"restored: {name} {key} {_show(before.get(key))} -> "
                                     f"{_show(after.get(key))}")
                cfg = new
        if name in unchanged:
            kept_names.add(name)
        elif name in stopped or name in started:
            notes.append(f"ignored: {name} {'stopped' if name in stopped else 'started'} "
                         f"by an operator: {gone(name)}")
        watchers.append(cfg)
    for name in sorted((removed | set(state.overrides)) - set(file)):
        notes.append(f"ignored: runtime changes to {name}: {gone(name)}")
    names = {w.name for w in watchers}
    for name, options in state.added.items():
        if name in names:
            notes.append(f"ignored: watcher {name} added at runtime: the config file "
                         "defines it now")
            continue
        try:
            cfg = watcher_from_dict({**options, "name": name},
                                    where=f"watcher {name} (state file)")
        except ConfigError as exc:
            notes.append(f"ignored: watcher {name} added at runtime: {'; '.join(exc.problems)}")
            continue
        notes.append(f"restored: watcher {name} added")
        watchers.append(cfg)
        names.add(name)
        kept_names.add(name)
    total = sum(min(w.numprocesses, 1) if w.singleton else w.numprocesses for w in watchers)
    limit = config.controller.max_processes
    if total > limit:
        return _Resolution(watchers=list(config.watchers), start={}, notes=[
            f"ignored: the runtime state asks for {total} processes, more than "
            f"max_processes = {limit}: the config file is used as it is"])
    start = {n: n in started for n in (stopped | started) & kept_names}
    return _Resolution(watchers=watchers, notes=notes, start=start)


def apply_state(config: Config, state: RuntimeState) -> tuple[Config, list[str]]:
    """The effective config (the file's, with the runtime changes the precedence rules
    keep) and one note per change restored or ignored ("restored: web numprocesses
    2 -> 5", "ignored: ...")."""
    res = _resolve(config, state)
    return msgspec.structs.replace(config, watchers=res.watchers), res.notes


def start_overrides(config: Config, state: RuntimeState) -> dict[str, bool]:
    """Watchers to start (True) or not (False) at restore regardless of their autostart,
    because an operator started or stopped them; `config` is the file's (as given to
    apply_state). Start watcher w iff ``overrides.get(w.name, w.config.autostart)``."""
    return _resolve(config, state).start


# -- recording --------------------------------------------------------------------------

class StateRecorder:
    """Builds the RuntimeState from the operations as they succeed. `dirty` is set by
    every change; whoever saves the state clears it after a successful save."""

    def __init__(self, config: Config, state: RuntimeState | None = None) -> None:
        """`config` is the config file's (not the effective one); `state` what
        load_state found, when the controller restored it (apply_state)."""
        self._source = config.source
        self._base: dict[str, WatcherConfig] = {w.name: w for w in config.watchers}
        self._digest = config_digest(config)
        self._digests = {name: watcher_digest(w) for name, w in self._base.items()}
        self._added: dict[str, dict[str, Any]] = {}
        self._removed: set[str] = set()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._stopped: set[str] = set()
        self._started: set[str] = set()
        self.dirty = False
        if state is not None:
            self._adopt(config, state)

    def _adopt(self, config: Config, state: RuntimeState) -> None:
        # Keep exactly what apply_state restored, re-based on the current file.
        effective, _ = apply_state(config, state)
        running = {w.name: w for w in effective.watchers}
        for name, cfg in running.items():
            base = self._base.get(name)
            if base is None:
                self._added[name] = _options(cfg)
            elif cfg != base:
                self._set_override(name, _options(cfg))
        self._removed = set(self._base) - set(running)
        for name, start in start_overrides(config, state).items():
            (self._started if start else self._stopped).add(name)
        # Digests or contents moved on (e.g. dropped entries): write the state again.
        self.dirty = self.snapshot() != state

    def _set_override(self, name: str, options: Mapping[str, Any]) -> None:
        base = _options(self._base[name], changed_only=False)
        merged = {**self._overrides.get(name, {}), **options}
        # Only what differs from the file: an option set back to the file's value is no
        # runtime change any more.
        diff = {k: v for k, v in merged.items() if k != "name" and base.get(k) != v}
        if diff:
            self._overrides[name] = diff
        else:
            self._overrides.pop(name, None)

    def added(self, cfg: WatcherConfig, *, start: bool = True) -> None:
        """A watcher was added (`start`: and started at once; else it stays stopped)."""
        # A config watcher removed then added again stays in `removed`: at restore the
        # removal applies first (if the file's definition is unchanged), then the add.
        self._added[cfg.name] = _options(cfg)
        self._overrides.pop(cfg.name, None)
        self._started.discard(cfg.name)
        self._stopped.discard(cfg.name)
        if not start:
            self._stopped.add(cfg.name)
        self.dirty = True

    def removed(self, name: str) -> None:
        if self._added.pop(name, None) is None and name in self._base:
            self._removed.add(name)
        self._overrides.pop(name, None)
        self._stopped.discard(name)
        self._started.discard(name)
        self.dirty = True

    def changed(self, name: str, options: Mapping[str, Any]) -> None:
        """Options changed (set/incr/decr/numprocesses): the new values, with the config
        file's option names. The whole ``Arbiter.options(name)`` is fine: only what
        differs from the file is kept."""
        if name in self._added:
            self._added[name] = {**self._added[name], **options, "name": name}
        elif name in self._base and name not in self._removed:
            self._set_override(name, options)
        else:
            log.debug("state: change of unknown watcher %s not recorded", name)
            return
        self.dirty = True

    def started(self, name: str) -> None:
        self._stopped.discard(name)
        self._started.add(name)
        self.dirty = True

    def stopped(self, name: str) -> None:
        self._started.discard(name)
        self._stopped.add(name)
        self.dirty = True

    def reset_config(self, config: Config) -> None:
        """After reloadconfig with the file `config`: the runtime changes of watchers
        whose definition changed (or went away) are dropped: the file wins for them."""
        new = {w.name: w for w in config.watchers}
        digests = {name: watcher_digest(w) for name, w in new.items()}
        changed = {n for n in set(self._base) | set(new)
                   if self._digests.get(n) != digests.get(n)}
        for name in changed:
            self._overrides.pop(name, None)
            self._removed.discard(name)
            if name in self._added and name in new:
                del self._added[name]  # the file defines it now
            if name not in self._added:
                self._stopped.discard(name)
                self._started.discard(name)
        self._source = config.source
        self._base, self._digests, self._digest = new, digests, config_digest(config)
        self.dirty = True

    def reconcile(self, config: Config) -> tuple[Config, list[str]]:
        """reset_config, then the effective config to run for the new file `config`."""
        self.reset_config(config)
        return apply_state(config, self.snapshot())

    def snapshot(self) -> RuntimeState:
        return RuntimeState(
            source=self._source,
            config_digest=self._digest,
            watcher_digests=dict(self._digests),
            added={k: dict(v) for k, v in self._added.items()},
            removed=sorted(self._removed),
            overrides={k: dict(v) for k, v in self._overrides.items()},
            stopped=sorted(self._stopped),
            started=sorted(self._started),
        )


class StateWriter:
    """Saves a recorder's state after changes: off the event loop (fsync may take a
    while), one save at a time, a burst of changes coalesced into the next save."""

    def __init__(self, path: str, recorder: StateRecorder) -> None:
        self.path = path
        self.recorder = recorder
        self._task: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        """Call after each recorded change (cheap when nothing changed)."""
        if self.recorder.dirty and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.recorder.dirty:
            state = self.recorder.snapshot()
            self.recorder.dirty = False
            try:
                await asyncio.to_thread(save_state, self.path, state)
            except OSError as exc:
                # Kept dirty: the next change (or flush) tries again.
                self.recorder.dirty = True
                log.error("cannot save the state file %s: %s", self.path, exc)
                return

    async def flush(self) -> None:
        """Wait for the save in progress, then save what is still unsaved (at shutdown)."""
        if self._task is not None:
            await self._task
        if self.recorder.dirty:
            self._task = asyncio.get_running_loop().create_task(self._run())
            await self._task
