"""A loaded ``Config`` -> the native TOML document (what ``dump_toml`` prints): how ``convert``
turns a circus INI file, read by the one loader, into ``ringleader.toml``.

Only what differs from the defaults is written; watchers and sockets become tables keyed by
name; modes and umasks are octal strings and signals names, as a person writes them. Loading
the printed document gives the same Config again.
"""

from __future__ import annotations

import signal
from typing import Any

import msgspec

from ringleader.config.features import HookConfig
from ringleader.config.model import Config

_OCTAL = frozenset({"umask", "mode"})
_SIGNALS = frozenset({"stop_signal"})
# Written even at the Struct's default: the loader's default differs (a before_stop hook
# ignores its failures unless told otherwise, as in circus).
_ALWAYS: dict[type[msgspec.Struct], frozenset[str]] = {
    HookConfig: frozenset({"abort_on_failure"}),
}


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT


def _value(name: str, value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return _table(value)
    if name in _OCTAL and isinstance(value, int):
        return f"{value:03o}"
    if name in _SIGNALS and isinstance(value, int):
        try:
            return signal.Signals(value).name
        except ValueError:
            return value
    if isinstance(value, list):
        return [_value("", v) for v in value]
    if isinstance(value, dict):
        return {k: _value(k, v) for k, v in value.items()}
    return value


def _table(struct: msgspec.Struct, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    always = _ALWAYS.get(type(struct), frozenset())
    for field in msgspec.structs.fields(struct):
        value = getattr(struct, field.name)
        if field.name in skip or value is None or \
                (value == _default(field) and field.name not in always):
            continue
        out[field.name] = _value(field.name, value)
    return out


def document_from_config(config: Config) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    controller = _table(config.controller)
    if controller:
        doc["ringleader"] = controller
    if config.watchers:
        doc["watchers"] = {w.name: _table(w, skip=frozenset({"name"}))
                           for w in config.watchers}
    if config.sockets:
        doc["sockets"] = {s.name: _table(s, skip=frozenset({"name"})) for s in config.sockets}
    if config.groups:
        doc["groups"] = {g.name: _table(g, skip=frozenset({"name"})) for g in config.groups}
    return doc
