"""Public entry points: a config file (TOML or circus INI) or plain dicts -> ``Config``.

Every user mistake becomes a ``ConfigError`` listing all problems, one line each
(``FILE: [section] field: what is wrong (expected ...)``); never a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from ringleader.config import options
from ringleader.config.collect import (
    Collector,
    PendingSection,
    PendingWatcher,
    finish,
    take_env,
)
from ringleader.config.dialects.files import UntrustedFile, read_config_text
from ringleader.config.endpoint import has_circus_section, is_toml
from ringleader.config.features import SocketConfig
from ringleader.config.model import Config, WatcherConfig
from ringleader.config.values import show
from ringleader.errors import ConfigError

__all__ = ["as_watcher_config", "as_watcher_configs", "config_from_dicts", "load_config",
           "watcher_from_dict"]

_INTERPRETER = re.compile(r"^(python[\d.]*|pypy[\d.]*|sh|bash|dash|zsh|node|nodejs)$")
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")


def load_config(path: str | os.PathLike[str], *, procfile: bool = False,
                env_file: str | None = None, formation: str | None = None,
                port_base: int | None = None) -> Config:
    """Load a config file with its includes: TOML (``.toml``), circus INI, a
    supervisord.conf (its ``[supervisord]`` or ``[program:x]`` sections) or a Procfile (by
    name, or *procfile*). The foreign formats are translated into the native document,
    which is then read like any ``ringleader.toml``. *env_file*, *formation* and
    *port_base* are a Procfile's (foreman's ``-e``, ``-m``, ``-p``)."""
    display = os.fspath(path)
    source = os.path.abspath(display)
    c = Collector(display=display)
    procfile_options = env_file is not None or formation is not None or port_base is not None
    if procfile or _is_procfile(display):
        _read_procfile(c, source, display, env_file, formation, port_base)
    elif procfile_options:
        raise ConfigError([f"{display}: the env file, formation and port options are for a "
                           "Procfile (name it Procfile, or use --procfile)"])
    else:
        _read_into(c, source, display, top=True)
    config, report = finish(c, source)
    if config is None:
        raise ConfigError(report.problems)
    return config


def _is_procfile(path: str) -> bool:
    if not os.path.basename(path).startswith("Procfile"):
        return False  # the common case: no import
    from ringleader.config.dialects.procfile import is_procfile

    return is_procfile(path)


def _read_procfile(c: Collector, source: str, display: str, env_file: str | None,
                   formation: str | None, port_base: int | None) -> None:
    from ringleader.config.dialects.procfile import translate_procfile

    translation = translate_procfile(display, env_file=env_file, formation=formation,
                                     port_base=5000 if port_base is None else port_base)
    _read_translation(c, source, display, translation)


def _read_translation(c: Collector, source: str, display: str, translation: Any) -> None:
    """A foreign file's native document, read as a TOML file's; its notes (what was dropped
    or changed meaning) become warnings."""
    from ringleader.config.dialects.toml import read_toml

    c.visited.add(os.path.realpath(source))
    c.report.warnings.extend(str(note) for note in translation.notes)
    read_toml(c, source, display, translation.document)


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def is_native(path: str, text: str) -> bool:
    """TOML, or circus INI (no foreign format is looked for then)."""
    return is_toml(path, text) or has_circus_section(text)


def _read_into(c: Collector, path: str, display: str, *, top: bool = False) -> None:
    real = os.path.realpath(path)
    if real in c.visited:  # an include cycle, or one file matched twice: read once
        return
    c.visited.add(real)
    try:
        # Includes too: a config file decides what runs as whom, so it must be one that
        # only root or the controller's user could have written (trusted_files).
        text = read_config_text(path)
    except UntrustedFile as exc:
        if exc.reason == "no such file":
            c.report.problems.append(f"{display}: no such file")
        else:
            where = "" if exc.path == os.path.abspath(path) else f"{exc.path}: "
            c.report.problems.append(f"{display}: cannot read it: {where}{exc}")
        return
    if top and not is_native(path, text):
        from ringleader.config.dialects.supervisord import (
            looks_like_supervisord,
            translate_supervisord,
        )

        if looks_like_supervisord(text):
            _read_translation(c, path, display, translate_supervisord(display))
            return
    if is_toml(path, text):
        import tomllib

        from ringleader.config.dialects.toml import read_toml, syntax_problem

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            c.report.problems.append(syntax_problem(display, exc))
            return
        includes = read_toml(c, path, display, data)
    else:
        from ringleader.config.dialects.circus_ini import read_ini

        includes = read_ini(c, path, display, text)
    for inc in includes:
        _read_into(c, inc, _display(inc))


def _derive_name(d: dict[str, Any]) -> str:
    """"python worker.py" -> "worker", "/usr/bin/redis-server --port 1" -> "redis-server"."""
    cmd = d.get("cmd")
    try:
        argv = shlex.split(cmd) if isinstance(cmd, str) else []
    except ValueError:
        argv = []
    args = d.get("args")
    if isinstance(args, list):
        argv += [str(a) for a in args]
    elif isinstance(args, str):
        try:
            argv += shlex.split(args)
        except ValueError:
            pass
    if not argv:
        return "watcher"
    prog = os.path.basename(argv[0])
    name = prog
    if _INTERPRETER.match(prog):
        rest = iter(argv[1:])
        for arg in rest:
            if arg == "-m":  # python -m pkg.worker -> worker
                name = next(rest, prog).rsplit(".", 1)[-1]
                break
            if arg == "-c":  # inline code: nothing better than the interpreter
                break
            if not arg.startswith("-"):
                name = os.path.splitext(os.path.basename(arg))[0] or prog
                break
    return _NAME_BAD.sub("_", name).strip("_.-") or "watcher"


def _add_dict_watcher(c: Collector, d: Any, where: str, taken: set[str]) -> None:
    if not isinstance(d, dict):
        c.report.error(where, "", f"expected a dict of watcher options, got {show(d)}")
        return
    options = dict(d)
    name = options.pop("name", None)
    if name is None:
        base = _derive_name(options)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
    elif not isinstance(name, str):
        c.report.error(where, "name", f"expected a string, got {show(name)}")
        return
    taken.add(name)
    c.add_watcher(PendingWatcher(name, where, options, "dict", take_env(options)))


def _add_dict_socket(c: Collector, d: Any, where: str) -> None:
    if isinstance(d, SocketConfig):
        d = {f: getattr(d, f) for f in d.__struct_fields__ if getattr(d, f) is not None}
    if not isinstance(d, dict):
        c.report.error(where, "", f"expected a dict of socket options, got {show(d)}")
        return
    name = d.get("name")
    if not isinstance(name, str) or not name:
        c.report.error(where, "name", f"expected the socket's name, got {show(name)}")
        return
    c.add_socket(PendingSection(name, where, dict(d), "dict", None))


def config_from_dicts(watchers: list[dict[str, Any]],
                      controller: dict[str, Any] | None = None, *,
                      sockets: list[dict[str, Any]] | None = None,
                      known_watchers: tuple[str, ...] = (),
                      known_sockets: tuple[str, ...] = ()) -> Config:
    """The library's way in: ``config_from_dicts([{"cmd": "python worker.py"}])``. Same
    option names and normalisation as the files (feature tables as nested dicts); a watcher
    without "name" is named after its program (deduplicated with -2, -3, ...). Names in
    after/requires/sockets must be among these watchers and *sockets*, or in *known_* (the
    ones the engine already has)."""
    c = Collector()
    cwd = os.getcwd()
    for key, value in (controller or {}).items():
        c.set_controller(key, value, "controller", cwd, "dict")
    for i, s in enumerate(sockets or []):
        _add_dict_socket(c, s, f"socket[{i}]")
    taken = {d["name"] for d in watchers if isinstance(d, dict) and isinstance(d.get("name"), str)}
    for i, d in enumerate(watchers):
        _add_dict_watcher(c, d, f"watcher[{i}]", taken)
    config, report = finish(c, None, known_watchers=known_watchers,
                            known_sockets=known_sockets)
    if config is None:
        raise ConfigError(report.problems)
    return config


def watcher_from_dict(d: dict[str, Any], *, where: str = "watcher") -> WatcherConfig:
    """One watcher from a dict (the API's ``add``); raises ConfigError. The names in
    after/requires/sockets are not checked here: only the engine knows the others."""
    c = Collector()
    _add_dict_watcher(c, d, where, set())
    config, report = finish(c, None, references=False)
    if config is None:
        raise ConfigError(report.problems)
    return config.watchers[0]


def as_watcher_configs(
    watchers: Iterable[WatcherConfig | Mapping[str, Any]], *, argument: str = "watchers",
) -> list[WatcherConfig]:
    """Plain dicts loaded (together, so that their names are deduplicated and checked
    against each other); WatcherConfig objects checked by the same validator (a Struct
    built by hand skips its constraints); order kept. Raises ConfigError, or TypeError
    naming `argument` and what was expected for a wrong kind of value."""
    items = _watcher_items(watchers, argument)
    dicts = [dict(w) for w in items if not isinstance(w, WatcherConfig)]
    converted = iter(config_from_dicts(dicts).watchers if dicts else [])
    return [options.apply(w, {}, where=f"watcher {w.name}") if isinstance(w, WatcherConfig)
            else next(converted) for w in items]


def as_watcher_config(config: WatcherConfig | Mapping[str, Any], *,
                      argument: str = "config") -> WatcherConfig:
    """One watcher, as ``as_watcher_configs`` takes each."""
    _check_watcher(config, argument)
    return as_watcher_configs([config])[0]


def _watcher_items(watchers: object, argument: str) -> list[WatcherConfig | Mapping[str, Any]]:
    """The library's arguments checked before anything reads them: a string (a command
    where a list was expected) or a dict is iterable too, and would fail deep inside."""
    expected = "a list of dicts of watcher options (or WatcherConfig objects)"
    if isinstance(watchers, (str, bytes)):
        raise TypeError(f"{argument} must be {expected}, got the string {_brief(watchers)} "
                        f"(for one command: get_arbiter(CMD, numprocesses), or [{{\"cmd\": "
                        f"CMD}}])")
    if isinstance(watchers, (Mapping, WatcherConfig)):
        raise TypeError(f"{argument} must be {expected}, got a single "
                        f"{type(watchers).__name__}: put it in a list")
    if not isinstance(watchers, Iterable):
        raise TypeError(f"{argument} must be {expected}, got {type(watchers).__name__}")
    items = list(watchers)
    for i, item in enumerate(items):
        _check_watcher(item, f"{argument}[{i}]")
    return items


def _check_watcher(item: object, where: str) -> None:
    if not isinstance(item, (Mapping, WatcherConfig)):
        raise TypeError(f"{where} must be a dict of watcher options or a WatcherConfig, "
                        f"got {type(item).__name__} {_brief(item)}")
    if isinstance(item, Mapping):
        bad = next((k for k in item if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"{where}: option names must be strings, got "
                            f"{type(bad).__name__} {_brief(bad)}")


def _brief(value: object) -> str:
    text = show(value)
    return text if len(text) <= 60 else text[:57] + "..."
