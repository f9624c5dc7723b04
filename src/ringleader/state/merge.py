"""The state file's precedence rules (pure): runtime changes survive a controller restart.

Operations that change what runs (``add``, ``rm``, ``incr``, ``decr``, ``numprocesses``,
``set``, and an operator's ``start``/``stop`` of a watcher) are recorded by a
``StateRecorder`` (``state.recorder``) and saved in the state file (``state.file``). When
the controller starts again, ``resolve`` lays the recorded changes over the config file.

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

from typing import Any, NamedTuple

import msgspec

from ringleader.config import options
from ringleader.config.load import watcher_from_dict
from ringleader.config.model import Config, WatcherConfig
from ringleader.errors import ConfigError
from ringleader.state.file import RuntimeState, encode


def _digest(data: bytes) -> str:
    # BLAKE2 from CPython's own _blake2 module: importing hashlib would map libcrypto
    # into every controller (about 4 MB) just to compare configurations.
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter without it
        from hashlib import blake2b
    return blake2b(data, digest_size=32).hexdigest()


def watcher_digest(cfg: WatcherConfig) -> str:
    return _digest(encode(cfg))


def config_digest(config: Config) -> str:
    return _digest(encode(config.watchers))


class Restored(NamedTuple):
    """What a state laid over a config file gives."""

    config: Config  # the effective config: the file's, with the runtime changes kept
    notes: list[str]  # one per change restored or ignored ("restored: web numprocesses 2 -> 5")
    start: dict[str, bool]  # watchers an operator started (True) or stopped (False)


def _show(value: Any) -> str:
    return msgspec.json.encode(value).decode() if not isinstance(value, str) else value


def resolve(config: Config, state: RuntimeState) -> Restored:
    """`state` laid over the config file `config` by the precedence rules above."""
    notes: list[str] = []
    if state.source != config.source:
        notes.append(f"ignored: the state was recorded for config {state.source or '(none)'}, "
                     f"not {config.source or '(none)'}")
        return Restored(config, notes, {})
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
                new = options.apply(cfg, changes, where=f"watcher {name} (state file)")
            except ConfigError as exc:
                notes.append(f"ignored: runtime changes to {name}: {'; '.join(exc.problems)}")
            else:
                before = options.dump(cfg)
                after = options.dump(new)
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
    for name, opts in state.added.items():
        if name in names:
            notes.append(f"ignored: watcher {name} added at runtime: the config file "
                         "defines it now")
            continue
        try:
            cfg = watcher_from_dict({**opts, "name": name},
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
        return Restored(config, start={}, notes=[
            f"ignored: the runtime state asks for {total} processes, more than "
            f"max_processes = {limit}: the config file is used as it is"])
    start = {n: n in started for n in (stopped | started) & kept_names}
    return Restored(msgspec.structs.replace(config, watchers=watchers), notes, start)


def apply_state(config: Config, state: RuntimeState) -> tuple[Config, list[str]]:
    """The effective config (the file's, with the runtime changes the precedence rules
    keep) and one note per change restored or ignored ("restored: web numprocesses
    2 -> 5", "ignored: ...")."""
    restored = resolve(config, state)
    return restored.config, restored.notes


def start_overrides(config: Config, state: RuntimeState) -> dict[str, bool]:
    """Watchers to start (True) or not (False) at restore regardless of their autostart,
    because an operator started or stopped them; `config` is the file's (as given to
    apply_state). Start watcher w iff ``overrides.get(w.name, w.config.autostart)``."""
    return resolve(config, state).start


