"""The library's arguments, checked where the application passes them: a wrong kind of
value is a TypeError, a wrong value a ValueError, each naming the argument and what was
expected, before anything deeper reads it."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from ringleader.config.load import config_from_dicts
from ringleader.config.model import ControllerConfig

# The keywords of get_arbiter that are not watcher options.
ENGINE_OPTIONS = frozenset({"controller", "console_fd", "console_color", "use_guardian",
                            "timeout"})


def _kind(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def check_int(value: object, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_engine_options(**given: object) -> None:
    """console_fd, console_color, use_guardian, timeout: those of them given."""
    if "console_fd" in given:
        check_int(given["console_fd"], "console_fd")
    color = given.get("console_color")
    if color is not None and not isinstance(color, bool):
        raise TypeError(f"console_color must be True, False or None, got {_kind(color)}")
    if "use_guardian" in given and not isinstance(given["use_guardian"], bool):
        raise TypeError(f"use_guardian must be True or False, got {_kind(given['use_guardian'])}")
    if "timeout" in given:
        timeout = given["timeout"]
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, Real):
                raise TypeError(f"timeout must be a number of seconds or None, got "
                                f"{_kind(timeout)}")
            if not float(timeout) > 0:
                raise ValueError(f"timeout must be > 0 seconds (or None: no limit), got "
                                 f"{timeout}")


def controller_config(value: object) -> ControllerConfig:
    """The controller options: a ControllerConfig, a dict of the config file's
    ``[ringleader]`` options (ConfigError if one is wrong), or None for the defaults."""
    if value is None:
        return ControllerConfig()
    if isinstance(value, ControllerConfig):
        return value
    if isinstance(value, Mapping):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"controller: option names must be strings, got {_kind(bad)}")
        return config_from_dicts([], dict(value)).controller
    raise TypeError(f"controller must be a ControllerConfig, a dict of controller options or "
                    f"None, got {_kind(value)}")


def one_command(cmd: str, numprocesses: object, options: Mapping[str, Any]) -> dict[str, Any]:
    """get_arbiter(cmd, numprocesses, **watcher_options) as one watcher's dict."""
    if not cmd.strip():
        raise ValueError('cmd must be a command line such as "python worker.py", got an '
                         "empty string")
    if "cmd" in options:
        raise TypeError("get_arbiter() got the command twice: as its first argument and as "
                        "cmd=")
    count = check_int(1 if numprocesses is None else numprocesses, "numprocesses")
    return {**options, "cmd": cmd, "numprocesses": count}


def check_list_form(numprocesses: object, options: Mapping[str, Any]) -> None:
    """With a list of watchers, numprocesses and watcher options belong in each one."""
    if numprocesses is not None:
        raise TypeError("numprocesses goes with a command string (get_arbiter(\"python "
                        "worker.py\", 3)); with a list of watchers, put it in each "
                        "watcher's options")
    if options:
        raise TypeError(f"get_arbiter() got unexpected keyword argument(s) "
                        f"{', '.join(sorted(options))}: with a list of watchers, watcher "
                        f"options go in each watcher's dict (engine options are "
                        f"{', '.join(sorted(ENGINE_OPTIONS))})")
