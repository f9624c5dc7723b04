"""``ringleader check CONFIG``: load, validate and show the resolved configuration; what
`run` checks before it starts (max_processes, the TLS files) is checked too.

Imports only the config package (never the engine), and the modules of the Python hooks
(imported as `run` would, so that one that cannot be is reported here, not at run time).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

import msgspec

from ringleader.cli.common import find_config
from ringleader.config.cluster import shown
from ringleader.config.features import SocketConfig
from ringleader.config.load import load_config
from ringleader.config.model import Config, WatcherConfig
from ringleader.config.runnable import check_runnable
from ringleader.errors import ConfigError

# WatcherConfig fields of the advanced features: shown only when not at their default.
_FEATURES = ("exit_codes", "start_secs", "start_retries", "process_name", "wid_start",
             "redirect_stderr", "kill_children", "close_child_stdout", "close_child_stderr",
             "executable", "virtualenv", "virtualenv_py_ver", "send_hup", "on_demand",
             "stdin_socket", "port_base", "events", "buffer_size", "extra",
             "use_sockets", "sockets", "readiness", "ready_timeout", "watchdog_sec", "after",
             "requires", "reload_batch", "flapping", "backoff", "autoscale", "cgroup",
             "watchdog", "health", "hooks")
_SIZES = ("memory_limit", "max_rss")
_UNITS = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "-"
    return str(value)


def _size(num: int) -> str:
    for unit, name in _UNITS:
        if num >= unit and (num * 100) % unit == 0:
            amount = num / unit
            return f"{num} ({amount:g} {name})"
    return str(num)


def _value(key: str, value: Any) -> Any:
    if key in _SIZES:
        return _size(value)
    if key in ("max_retry", "max_retries") and value == 0:
        return "0 (never give up)"
    return value


def _hook(hook: dict[str, Any]) -> str:
    failure = "failure aborts" if hook["abort_on_failure"] else "failure ignored"
    return f"{hook['target']} ({hook['kind']}, timeout {hook['timeout']:g}s, {failure})"


def _features(w: WatcherConfig) -> list[tuple[str, Any]]:
    """The advanced options that differ from the defaults, sub-tables as dotted keys."""
    given = msgspec.to_builtins(w)
    default = msgspec.to_builtins(WatcherConfig(name=w.name, cmd=w.cmd))
    flat: list[tuple[str, Any]] = []
    for key in _FEATURES:
        value = given[key]
        if value == default[key]:
            continue
        if key == "hooks":
            flat += [(f"hooks.{name}", _hook(hook)) for name, hook in value.items()]
        elif isinstance(value, dict):
            flat += [(f"{key}.{k}", _value(k, v)) for k, v in value.items() if v is not None]
        elif value is None:
            flat.append((key, "off"))
        else:
            flat.append((key, value))
    return flat


def _block(title: str, fields: dict[str, Any],
           extra: list[tuple[str, Any]] | None = None) -> list[str]:
    flat: list[tuple[str, Any]] = []
    for key, value in fields.items():
        if isinstance(value, dict) and key.endswith("_stream"):
            flat += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            flat.append((key, value))
    flat += extra or []
    width = max((len(k) for k, _ in flat), default=0)
    return [title] + [f"  {k.ljust(width)} = {_fmt(v)}" for k, v in flat]


def _socket(s: SocketConfig) -> dict[str, Any]:
    if s.family == "unix":
        fields: dict[str, Any] = {"family": "unix", "path": s.path}
        if s.mode is not None:
            fields["mode"] = f"0{s.mode:03o}"
        for key in ("owner", "group"):
            if getattr(s, key) is not None:
                fields[key] = getattr(s, key)
    else:
        host = f"[{s.host}]" if ":" in s.host else s.host
        fields = {"family": s.family,
                  "address": f"{host}:{s.port}" + (" (any free port)" if s.port == 0 else "")}
    fields["backlog"] = s.backlog
    if s.so_reuseport:
        fields["so_reuseport"] = True
    return fields


def format_config(config: Config) -> str:
    """Readable ``key = value`` blocks: the controller, the sockets, then each watcher, its
    advanced options only when set (pure)."""
    lines = [f"# {config.source}"] if config.source else []
    lines += _block("[controller]", msgspec.to_builtins(config.controller))
    if config.cluster is not None:
        cluster = shown(config.cluster)
        etcd = cluster.pop("etcd")
        cluster["key_prefix"] = config.cluster.key_prefix
        lines += ["", *_block("[cluster]", cluster, [(f"etcd.{k}", v) for k, v in etcd.items()
                                                     if v is not None])]
    for s in config.sockets:
        lines += ["", *_block(f"[socket {s.name}]", _socket(s))]
    for g in config.groups:
        lines += ["", *_block(f"[group {g.name}]", {"watchers": g.watchers,
                                                    "priority": g.priority})]
    for w in config.watchers:
        fields = msgspec.to_builtins(w)
        fields.pop("name")
        for key in _FEATURES:
            fields.pop(key)
        lines += ["", *_block(f"[watcher {w.name}]", fields, _features(w))]
    return "\n".join(lines) + "\n"


def run_check(path: str, *, as_json: bool, out: TextIO, err: TextIO,
              options: dict[str, Any] | None = None) -> int:
    """0 when the config is valid (warnings go to *err*), 2 with every problem otherwise.
    *options*: load_config's (a Procfile's formation, env file, port)."""
    try:
        config = load_config(path, **(options or {}))
    except ConfigError as exc:
        for problem in exc.problems:
            err.write(problem + "\n")
        return 2
    # what `run` checks before it starts, and the Python hooks imported as `run` would
    problems = [*check_runnable(config), *_hook_problems(config)]
    if problems:
        for problem in problems:
            err.write(problem + "\n")
        return 2
    for warning in config.warnings:
        err.write(f"warning: {warning}\n")
    if as_json:
        data = msgspec.to_builtins(config)
        if config.cluster is not None:
            data["cluster"] = shown(config.cluster)  # the etcd password as ***
        out.write(msgspec.json.encode(data).decode() + "\n")
    else:
        out.write(format_config(config))
    return 0


def _hook_problems(config: Config) -> list[str]:
    """Python hooks imported as `run` would (from the config's folder, the watchers'
    PYTHONPATH, sys.path): one line per hook that cannot be."""
    if not any(h.kind == "python" for w in config.watchers for h in w.hooks.values()):
        return []
    from ringleader.features.hook_import import import_problems

    config_dir = os.path.dirname(os.path.abspath(config.source)) if config.source else None
    return import_problems(config.watchers, config_dir, where=config.source or "")


def cmd_check(args: argparse.Namespace) -> int:
    from ringleader.cli.common import config_path, format_options

    path = config_path(args, "check") or find_config()  # -c CONFIG before it lands here too
    assert path is not None  # find_config() raises when none is found
    return run_check(path, as_json=args.json, out=sys.stdout, err=sys.stderr,
                     options=format_options(args))
