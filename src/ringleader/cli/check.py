"""``ringleader check CONFIG``: load, validate and show the resolved configuration.

Imports only the config package (never the engine), so it is fast and safe to run anywhere.
"""

from __future__ import annotations

from typing import Any, TextIO

import msgspec

from ringleader.config.load import load_config
from ringleader.config.model import Config
from ringleader.errors import ConfigError


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


def _block(title: str, fields: dict[str, Any]) -> list[str]:
    flat: list[tuple[str, Any]] = []
    for key, value in fields.items():
        if isinstance(value, dict) and key.endswith("_stream"):
            flat += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            flat.append((key, value))
    width = max((len(k) for k, _ in flat), default=0)
    return [title] + [f"  {k.ljust(width)} = {_fmt(v)}" for k, v in flat]


def format_config(config: Config) -> str:
    """Readable ``key = value`` blocks: the controller, then each watcher (pure)."""
    lines = [f"# {config.source}"] if config.source else []
    lines += _block("[controller]", msgspec.to_builtins(config.controller))
    for w in config.watchers:
        fields = msgspec.to_builtins(w)
        fields.pop("name")
        lines += ["", *_block(f"[watcher {w.name}]", fields)]
    return "\n".join(lines) + "\n"


def run_check(path: str, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """0 when the config is valid (warnings go to *err*), 2 with every problem otherwise."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            err.write(problem + "\n")
        return 2
    for warning in config.warnings:
        err.write(f"warning: {warning}\n")
    if as_json:
        out.write(msgspec.json.encode(config).decode() + "\n")
    else:
        out.write(format_config(config))
    return 0
