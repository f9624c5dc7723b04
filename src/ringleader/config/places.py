"""Where things are: which config file a command uses when none is named, and where a
controller keeps its files when its config does not say.

Config discovery, for every command that takes a config (``run``, ``up``, ``check``, and
the console, which reads the endpoint from it): ``-c CONFIG`` (or the CONFIG argument),
else ``$RINGLEADER_CONFIG``, else the first of ``ringleader.toml``, ``ringleader.ini``,
``circus.ini``, ``supervisord.conf``, ``Procfile`` in the current directory, else
``ringleader.toml`` or ``ringleader.ini`` in ``$XDG_CONFIG_HOME/ringleader/`` (default
``~/.config``), else in ``/etc/ringleader/``.

A config file under ``/etc`` is a system config (its controller runs as root, as a
service): by default its socket and pid file go to ``/run/ringleader``, its state file to
``/var/lib/ringleader``, its logs and audit log to ``/var/log/ringleader``, each named
after the config (``/etc/ringleader/web.toml``: ``web.sock``, ``web.state``, ...), so that
several system controllers never share one. Any other config keeps them next to itself.

Stdlib ``os`` only: the console imports this module on its fast path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the console imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_CONFIG = "RINGLEADER_CONFIG"
LOCAL_NAMES = ("ringleader.toml", "ringleader.ini", "circus.ini", "supervisord.conf",
               "Procfile")
# In the per-user and system folders: no circus.ini (no other tool puts one there).
FOLDER_NAMES = ("ringleader.toml", "ringleader.ini")
SYSTEM_CONFIG_DIR = "/etc/ringleader"
SYSTEM_ROOT = "/etc"
# The system folders of a system config's files, and the mode each is made with.
RUN_DIR, STATE_DIR, LOG_DIR = "/run/ringleader", "/var/lib/ringleader", "/var/log/ringleader"
DIR_MODES = {RUN_DIR: 0o700, STATE_DIR: 0o700, LOG_DIR: 0o750}


class NoConfig(Exception):
    """No config file was found; the message lists where it was looked for."""


def user_config_dir(env: Mapping[str, str]) -> str:
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "ringleader")


def candidates(env: Mapping[str, str] | None = None) -> list[str]:
    """The places looked at, in order, after $RINGLEADER_CONFIG."""
    env = os.environ if env is None else env
    return [*(os.path.join(".", n) for n in LOCAL_NAMES),
            *(os.path.join(user_config_dir(env), n) for n in FOLDER_NAMES),
            *(os.path.join(SYSTEM_CONFIG_DIR, n) for n in FOLDER_NAMES)]


def discover(env: Mapping[str, str] | None = None) -> str | None:
    """The config file to use when none is named, or None. A $RINGLEADER_CONFIG naming no
    file is an error (NoConfig), not a reason to look elsewhere."""
    env = os.environ if env is None else env
    named = env.get(ENV_CONFIG, "")
    if named:
        if not os.path.isfile(named):
            raise NoConfig(f"${ENV_CONFIG} names {named}: no such file")
        return named
    return next((path for path in candidates(env) if os.path.isfile(path)), None)


def not_found(env: Mapping[str, str] | None = None) -> str:
    """The one-line error when discover() found nothing."""
    return (f"no config file given (-c CONFIG) and none found: looked for ${ENV_CONFIG}, "
            + ", ".join(candidates(env)))


def is_system_config(path: str) -> bool:
    """Whether the config file `path` lives under /etc (its real path: a link from
    elsewhere to /etc counts, one from /etc to elsewhere does not)."""
    real = os.path.realpath(path)
    return real.startswith(SYSTEM_ROOT + os.sep)


def system_file(config_path: str, folder: str, suffix: str) -> str:
    """The system location of a system config's file: `folder`/<config stem><suffix>."""
    stem = os.path.splitext(os.path.basename(config_path))[0] or "ringleader"
    return os.path.join(folder, stem + suffix)


def default_socket(config_path: str) -> str:
    """The control socket of a config that names no endpoint."""
    if is_system_config(config_path):
        return system_file(config_path, RUN_DIR, ".sock")
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), "ringleader.sock")
