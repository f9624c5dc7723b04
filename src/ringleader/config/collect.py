"""Gathers the sections of a config file and its includes, then builds the Config.

Both dialects feed one ``Collector``: circus merges every included file into one parser, so an
``[env:web]`` section in one file applies to ``[watcher:web]`` in another; the final pass
(env, load-time substitution, normalisation) therefore runs once everything is read.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from typing import Any

import msgspec

from ringleader.config.endpoint import include_files, resolve
from ringleader.config.features import FlappingConfig, SocketConfig
from ringleader.config.model import Config, ControllerConfig, WatcherConfig
from ringleader.config.references import check_references
from ringleader.config.report import Dialect, Report
from ringleader.config.sections.cluster import build_cluster
from ringleader.config.sections.controller import build_controller
from ringleader.config.sections.features import flapping_plugin
from ringleader.config.sections.groups import build_group, check_groups
from ringleader.config.sections.sockets import build_socket, check_socket_clashes
from ringleader.config.sections.watcher import build_watcher
from ringleader.config.substitute import (
    expand_dollar_vars,
    expand_env_refs,
    unknown_env_refs,
)
from ringleader.config.values import BadValue, show, to_env


class PendingWatcher(msgspec.Struct):
    name: str
    where: str  # "FILE: [watcher:NAME]"
    options: dict[str, Any]
    dialect: Dialect
    env: dict[str, str] = msgspec.field(default_factory=dict)  # its own env (TOML table)


class PendingSection(msgspec.Struct):
    """A [socket:NAME] / [sockets.NAME] / [plugin:NAME] section, built in ``finish``."""

    name: str
    where: str
    options: dict[str, Any]
    dialect: Dialect
    base_dir: str | None  # relative paths are relative to it (None: as given)


class Setting(msgspec.Struct):
    value: Any
    where: str
    base_dir: str
    dialect: Dialect


class Collector(msgspec.Struct):
    report: Report = msgspec.field(default_factory=Report)
    # first file wins, as circus
    controller: dict[str, Setting] = msgspec.field(default_factory=dict)
    global_env: dict[str, str] = msgspec.field(default_factory=dict)  # circus [env]
    env_sections: list[tuple[list[str], dict[str, str]]] = msgspec.field(default_factory=list)
    watchers: list[PendingWatcher] = msgspec.field(default_factory=list)
    visited: set[str] = msgspec.field(default_factory=set)  # real paths, so include cycles end
    ctrl_where: str | None = None
    sockets: list[PendingSection] = msgspec.field(default_factory=list)
    flapping_plugin: PendingSection | None = None  # circus [plugin:...] of the Flapping class
    groups: list[PendingSection] = msgspec.field(default_factory=list)  # [groups.NAME]
    display: str | None = None  # the main file as shown in messages
    cluster: Setting | None = None  # the [cluster] table of a node (native TOML only)

    def set_cluster(self, setting: Setting) -> None:
        if self.cluster is not None:
            self.report.error(setting.where, "", f"a second [cluster] table (the first is "
                              f"in {self.cluster.where.removesuffix(' [cluster]')})")
            return
        self.cluster = setting

    def set_controller(self, key: str, value: Any, where: str, base_dir: str,
                       dialect: Dialect) -> None:
        self.controller.setdefault(key, Setting(value, where, base_dir, dialect))
        if self.ctrl_where is None:
            self.ctrl_where = where

    def add_watcher(self, pending: PendingWatcher) -> None:
        for other in self.watchers:
            if other.name == pending.name:
                self.report.error(pending.where, "", f"duplicate watcher {show(pending.name)} "
                                  f"(already defined in {other.where})")
                return
        self.watchers.append(pending)

    def add_socket(self, pending: PendingSection) -> None:
        for other in self.sockets:
            if other.name == pending.name:
                self.report.error(pending.where, "", f"duplicate socket {show(pending.name)} "
                                  f"(already defined in {other.where})")
                return
        self.sockets.append(pending)


def include_paths(patterns: list[str], base_dir: str, where: str, report: Report) -> list[str]:
    """circus read_config: each pattern is a glob relative to the including file; a pattern
    matching nothing is only worth a warning."""
    found: list[str] = []
    for pattern in patterns:
        matches = include_files(pattern, base_dir)
        if not matches:
            report.warnings.append(f"{where} include {show(pattern)} matches no file")
        found.extend(matches)
    return found


def take_env(options: dict[str, Any]) -> dict[str, str]:
    """Pops a well-formed ``env`` table out of *options* (a malformed one stays, for
    build_watcher to report)."""
    raw = options.get("env")
    if raw is None:
        return {}
    try:
        env = to_env(raw)
    except BadValue:
        return {}
    del options["env"]
    return env


def resolve_endpoint(setting: Setting, report: Report) -> str | None:
    """The endpoint setting by the rules the console shares (``config.endpoint``)."""
    resolved = resolve(setting.value, setting.dialect == "ini", setting.base_dir)
    if resolved.warning is not None:
        report.warnings.append(f"{setting.where} endpoint: {resolved.warning}")
    if resolved.error is not None:
        report.error(setting.where, "endpoint", resolved.error)
    return resolved.endpoint


_TLS_FILES = ("tls_cert", "tls_key", "client_ca")


def resolve_paths(key: str, setting: Setting) -> Any:
    """audit_log and the TLS files, like endpoint, are relative to the config file. Values of
    the wrong type are left for build_controller to report."""

    def rel(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        return os.path.normpath(os.path.join(setting.base_dir, os.path.expanduser(value)))

    if key in ("audit_log", "statefile"):
        return rel(setting.value)
    if key == "tcp" and isinstance(setting.value, dict):
        return {k: rel(v) if k in _TLS_FILES else v for k, v in setting.value.items()}
    return setting.value


def _watcher_env(c: Collector, w: PendingWatcher) -> dict[str, str]:
    env = dict(c.global_env)
    for patterns, values in c.env_sections:
        if any(fnmatchcase(w.name, p) for p in patterns):
            env.update(values)
    env.update(w.env)
    if w.dialect == "dict":
        return env  # library callers pass literal values
    out: dict[str, str] = {}
    for key, value in env.items():
        expanded, missing = expand_dollar_vars(value)
        for name in missing:
            c.report.warnings.append(f"{w.where} env.{key}: ${name} is not set; left unchanged")
        out[key] = expanded
    return out


def _substitute(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return expand_env_refs(value, env)
    if isinstance(value, list):
        return [_substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, env) for k, v in value.items()}
    return value


def _unknown_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return unknown_env_refs(value)
    if isinstance(value, list):
        return [n for v in value for n in _unknown_refs(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _unknown_refs(v)]
    return []


def _check_refs(options: dict[str, Any], where: str, report: Report) -> None:
    """circus leaves an unknown $(circus.env.X) in place silently: a command then runs
    with the literal text. Said instead, naming it."""
    for key, value in options.items():
        if key == "env":
            continue  # resolved at spawn time, from the watcher's env
        for name in dict.fromkeys(_unknown_refs(value)):
            report.error(where, key, f"$(circus.env.{name}): {name} is not set (expected a "
                         "variable of the controller's environment, of [env] or of the "
                         "watcher's env)")


def _build_sockets(c: Collector, base_env: dict[str, str]) -> list[tuple[SocketConfig, str]]:
    built: list[tuple[SocketConfig, str]] = []
    for s in c.sockets:
        options = s.options if s.dialect == "dict" else _substitute(s.options, base_env)
        sock = build_socket(s.name, options, s.where, c.report, s.dialect, s.base_dir)
        if sock is not None:
            built.append((sock, s.where))
    check_socket_clashes(built, c.report)
    return built


def _default_flapping(c: Collector, base_env: dict[str, str]) -> FlappingConfig | None:
    plugin = c.flapping_plugin
    if plugin is None:
        return None
    return flapping_plugin(_substitute(plugin.options, base_env), plugin.where, c.report)


def finish(c: Collector, source: str | None, *, references: bool = True,
           known_watchers: tuple[str, ...] = (),
           known_sockets: tuple[str, ...] = ()) -> tuple[Config | None, Report]:
    """Builds the Config, or None when the report holds problems. *references*: check the
    names in after/requires/sockets against the watchers and sockets defined (plus *known_*,
    those an engine already has)."""
    report = c.report
    base_env = dict(os.environ)
    base_env.update(c.global_env)
    ctrl_opts: dict[str, Any] = {}
    endpoint: str | None = None
    for key, setting in c.controller.items():
        if setting.dialect != "dict":
            setting.value = _substitute(setting.value, base_env)
        if key == "endpoint":
            endpoint = resolve_endpoint(setting, report)
        else:
            ctrl_opts[key] = resolve_paths(key, setting)
    controller = build_controller(ctrl_opts, endpoint, c.ctrl_where or source or "controller",
                                  report)
    sockets = _build_sockets(c, base_env)
    default_flapping = _default_flapping(c, base_env)
    watchers: list[WatcherConfig] = []
    built: list[tuple[WatcherConfig, str]] = []
    for w in c.watchers:
        env = _watcher_env(c, w)
        options = dict(w.options)
        if w.dialect != "dict":
            # circus config.py: $(circus.env.X) is resolved at load time in every watcher
            # option but env, from os.environ + [env] + the watcher's env; wid, sockets and
            # names not known now stay for spawn time.
            options = _substitute(options, {**base_env, **env})
            _check_refs(options, w.where, report)
        if not isinstance(options.get("env", {}), dict):
            pass  # a malformed env option: build_watcher reports it
        elif env:
            options["env"] = env
        watcher = build_watcher(w.name, options, w.where, report, w.dialect,
                                default_flapping=default_flapping)
        if watcher is not None:
            watchers.append(watcher)
            built.append((watcher, w.where))
    groups = [(g, pending.where) for pending in c.groups
              if (g := build_group(pending.name, pending.options, pending.where, report))]
    if references:
        check_references(built, [*known_watchers, *(w.name for w in c.watchers)],
                         [*known_sockets, *(s.name for s in c.sockets)],
                         c.display or source or "config", report)
        check_groups(groups, (w.name for w in c.watchers), report)
    cluster = None if c.cluster is None else build_cluster(
        c.cluster.value, c.cluster.where, c.cluster.base_dir, controller, report)
    if report.problems or controller is None:
        return None, report
    return Config(controller=controller if controller else ControllerConfig(),
                  watchers=watchers, sockets=[s for s, _ in sockets],
                  groups=[g for g, _ in groups], source=source,
                  warnings=list(report.warnings), cluster=cluster), report
