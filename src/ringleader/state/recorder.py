"""Records the runtime changes (``add``, ``rm``, ``set``, scaling, an operator's start and
stop) as they succeed, into the ``RuntimeState`` the state file keeps. Options are kept
with the config file's names, and only where they differ from the file."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ringleader.config import options
from ringleader.config.model import Config, WatcherConfig
from ringleader.state.file import RuntimeState
from ringleader.state.merge import Restored, apply_state, config_digest, resolve, watcher_digest

log = logging.getLogger("ringleader.statefile")


class StateRecorder:
    """Builds the RuntimeState from the operations as they succeed. `dirty` is set by
    every change; whoever saves the state clears it after a successful save."""

    def __init__(self, config: Config, state: RuntimeState | None = None,
                 restored: Restored | None = None) -> None:
        """`config` is the config file's (not the effective one); `state` what
        load_state found, when the controller restored it, and `restored` what
        ``resolve(config, state)`` gave (computed here when not given)."""
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
            self._adopt(state, restored or resolve(config, state))

    def _adopt(self, state: RuntimeState, restored: Restored) -> None:
        # Keep exactly what was restored, re-based on the current file.
        running = {w.name: w for w in restored.config.watchers}
        for name, cfg in running.items():
            base = self._base.get(name)
            if base is None:
                self._added[name] = options.dump(cfg, changed_only=True)
            elif cfg != base:
                self._set_override(name, options.dump(cfg, changed_only=True))
        self._removed = set(self._base) - set(running)
        for name, start in restored.start.items():
            (self._started if start else self._stopped).add(name)
        # Digests or contents moved on (e.g. dropped entries): write the state again.
        self.dirty = self.snapshot() != state

    def _set_override(self, name: str, changes: Mapping[str, Any]) -> None:
        base = options.dump(self._base[name])
        merged = {**self._overrides.get(name, {}), **changes}
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
        self._added[cfg.name] = options.dump(cfg, changed_only=True)
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

    def changed(self, name: str, changes: Mapping[str, Any]) -> None:
        """Options changed (set/incr/decr/numprocesses): the new values, with the config
        file's option names. The whole ``Arbiter.options(name)`` is fine: only what
        differs from the file is kept."""
        if name in self._added:
            self._added[name] = {**self._added[name], **changes, "name": name}
        elif name in self._base and name not in self._removed:
            self._set_override(name, changes)
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
