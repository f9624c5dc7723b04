"""A watcher's options as a config file names them: ``dump`` shows and persists them,
``apply`` is the one merge of option changes into a ``WatcherConfig`` (``set``, the API,
the state file's runtime changes).

Changes come as a user wrote them (strings from ``ringleader set``, JSON values from the
API, the state file's dicts), so they go through the same normalisation as a config file,
with the same messages. The watcher's current options join them as typed values; only a
table the changes reach into (``autoscale.max``, ``stdout_stream.filename``, circus's flat
flapping options) is opened up into its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ringleader.config.model import WatcherConfig
from ringleader.config.report import Report
from ringleader.config.sections.features import FLAPPING_FLAT
from ringleader.config.sections.watcher import build_watcher
from ringleader.errors import ConfigError

__all__ = ["apply", "dump"]

# Option values that are Structs (or dicts of them): kept whole unless a change reaches
# into them.
_TABLES = frozenset({"stdout_stream", "stderr_stream", "flapping", "backoff", "autoscale",
                     "cgroup", "watchdog", "health", "hooks"})


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    return value


def dump(config: WatcherConfig, *, changed_only: bool = False) -> dict[str, Any]:
    """The options as plain data, as a config file would state them (unset options left
    out; with `changed_only`, also those left at their defaults)."""
    result: dict[str, Any] = _strip(msgspec.to_builtins(config))
    if changed_only:
        defaults = msgspec.to_builtins(WatcherConfig(name=config.name, cmd=config.cmd))
        result = {k: v for k, v in result.items() if k in ("name", "cmd") or defaults.get(k) != v}
    return result


def _given(config: WatcherConfig) -> dict[str, Any]:
    """The options that differ from the defaults, as typed values."""
    defaults = WatcherConfig(name=config.name, cmd=config.cmd)
    return {f: getattr(config, f) for f in config.__struct_fields__
            if f == "cmd" or getattr(config, f) != getattr(defaults, f)}


def _reached(changes: Mapping[str, Any]) -> set[str]:
    """The tables a change reaches into."""
    heads = {key.partition(".")[0] for key in changes if "." in key}
    if any(key in FLAPPING_FLAT for key in changes):
        heads |= {"flapping", "backoff"}  # circus's max_retry may land in either
    return heads & _TABLES


def apply(config: WatcherConfig, changes: Mapping[str, Any], *, where: str) -> WatcherConfig:
    """`config` with `changes` (option names and values as in a config file) merged in.
    Raises ConfigError listing every problem; the name cannot change."""
    options = _given(config)
    for table in _reached(changes) & options.keys():
        options[table] = _strip(msgspec.to_builtins(options[table]))
    options.update(changes)
    options.pop("name", None)
    report = Report()
    new = build_watcher(config.name, options, where, report, "dict")
    if new is None:
        raise ConfigError(report.problems)
    return new
