"""The arguments of each `ringleader` command (the table in `commands.py` names them) and
the options every console command takes, also accepted before the command. Kept free of
typing and of anything but argparse: a console command must start in tens of milliseconds.
"""

from __future__ import annotations

import argparse

from ringleader.cli.common import CONFIG_HELP, DEFAULT_CONFIGS, add_procfile_arguments

CONFIG_SEARCH = ("$RINGLEADER_CONFIG, else " + ", ".join(DEFAULT_CONFIGS) + " here, else "
                 "ringleader.toml or .ini in ~/.config/ringleader/ ($XDG_CONFIG_HOME), "
                 "else in /etc/ringleader/")

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "text", "json", "journal")
ROLES = ("read", "operate", "admin")
STREAMS = ("stdout", "stderr")
TOP_SORTS = ("name", "cpu", "mem")
SHELLS = ("bash", "zsh", "fish")


def run_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Run the controller in the foreground. Ctrl-C or SIGTERM stops every "
                     "process gracefully; SIGHUP reloads the config file.")
    p.add_argument("config", nargs="?", help=CONFIG_HELP + "; default: " + CONFIG_SEARCH)
    p.add_argument("--cmd", help="run this command without a config file")
    p.add_argument("-n", "--numprocesses", type=int, default=1, metavar="N",
                   help="with --cmd: how many processes (default 1)")
    p.add_argument("--name", help="with --cmd: the watcher's name")
    p.add_argument("--shell", action="store_true", help="with --cmd: run it through /bin/sh")
    p.add_argument("--log-level", choices=LOG_LEVELS, help="default: the config's, or info")
    p.add_argument("--log-output", metavar="PATH", help="'-' for stderr (default) or a file")
    p.add_argument("--log-format", choices=LOG_FORMATS, help="text, json (one object per "
                   "line) or journal (<N> priorities, no timestamp); default: the config's "
                   "log_format, auto: journal when stderr is the journal's stream, else text")
    p.add_argument("--no-worker-output", action="store_true", help="do not write the "
                   "console streams of the workers to stdout (`ringleader logs` still has "
                   "them); `up` runs the controller so unless --worker-output")
    p.add_argument("--pidfile", metavar="PATH", help="write the controller's pid there while "
                   "it runs (default: the config's pidfile, or none)")
    p.add_argument("--init", action="store_true", help="act as init: reap orphaned "
                   "descendants (automatic as PID 1 of a container; a child subreaper "
                   "otherwise)")
    COLOR.add(p, help="colour the `name.wid |` prefixes of the console output: auto (on a "
              "terminal, unless $NO_COLOR; $FORCE_COLOR forces it), always or never; "
              "overrides the watchers' `color` option")
    add_procfile_arguments(p)


def check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help=CONFIG_HELP + "; default: " + CONFIG_SEARCH)
    p.add_argument("--json", action="store_true", help="print the resolved config as JSON")
    add_procfile_arguments(p)


def convert_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print the native TOML equivalent of a circus INI file, a "
                     "supervisord.conf or a Procfile, with a comment at each thing dropped "
                     "or changed in meaning. Its output loads and runs the same watchers.")
    p.add_argument("config", nargs="?", help=CONFIG_HELP)
    add_procfile_arguments(p)


class Option:
    """An option every console command takes, also accepted before the command
    (`ringleader -e unix:/run/x.sock status`). Plain classes here, not NamedTuples:
    importing typing costs the console ~4 ms."""

    __slots__ = ("choices", "dest", "flags", "help", "metavar", "type")

    def __init__(self, flags: tuple[str, ...], dest: str, help: str,
                 metavar: str | None = None, type: Callable[[str], object] | None = None,
                 choices: tuple[str, ...] | None = None) -> None:
        self.flags = flags
        self.dest = dest
        self.help = help
        self.metavar = metavar  # None: a flag
        self.type = type
        self.choices = choices

    def add(self, p: argparse.ArgumentParser | argparse._ArgumentGroup, *,
            dest: str | None = None, **kwargs: object) -> None:
        kwargs.setdefault("help", self.help)
        if self.metavar is None:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(metavar=self.metavar, type=self.type, choices=self.choices)
        p.add_argument(*self.flags, dest=dest or self.dest, **kwargs)  # type: ignore[arg-type]


COLOR_CHOICES = ("auto", "always", "never")
JSON = Option(("--json",), "json", "print the raw JSON answer")
ENDPOINT = Option(("-e", "--endpoint"), "endpoint",
                  "unix:PATH or https://HOST:PORT (default: the -c CONFIG's endpoint, "
                  "$RINGLEADER_ENDPOINT, the endpoint of the config `run` would find, or "
                  "unix:ringleader.sock here)", "ENDPOINT")
CONFIG = Option(("-c", "--config"), "config", "take the endpoint from this config file",
                "CONFIG")
TOKEN = Option(("--token",), "token", "bearer token (default: $RINGLEADER_TOKEN)", "TOKEN")
CAFILE = Option(("--cafile",), "cafile", "CA bundle to verify an https controller", "PATH")
CERTFILE = Option(("--certfile",), "certfile", "client certificate (https)", "PATH")
KEYFILE = Option(("--keyfile",), "keyfile", "client certificate's key (https)", "PATH")
MAX_TIMEOUT = 1e9  # seconds: beyond, sockets and select() refuse it (time_t)


def seconds(text: str) -> float:
    """--timeout's type: a number of seconds (0: the command's default). A negative,
    infinite or NaN one would reach the socket as a traceback."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0 <= value <= MAX_TIMEOUT:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_TIMEOUT:g} seconds, got "
                                         f"{text!r}")
    return value


TIMEOUT = Option(("--timeout",), "timeout",
                 "give up waiting for the controller after this long", "SECONDS", seconds)
COLOR = Option(("--color",), "color", "colour the output: auto (on a terminal, unless "
               "$NO_COLOR; $FORCE_COLOR forces it), always or never", "WHEN",
               choices=COLOR_CHOICES)
# Accepted before the command too; a command that takes none of them refuses them there.
GLOBAL_OPTIONS = (ENDPOINT, CONFIG, JSON, TIMEOUT, TOKEN, CAFILE, CERTFILE, KEYFILE, COLOR)
GLOBAL_DEST_PREFIX = "global_"


def common_options(p: argparse.ArgumentParser, *, config_option: bool = True,
            color: bool = True) -> None:
    g = p.add_argument_group("controller options")
    for option in GLOBAL_OPTIONS:
        if (option is not CONFIG or config_option) and (option is not COLOR or color):
            option.add(g)


def console_args(name: str = "") -> Callable[[argparse.ArgumentParser], None]:
    """A console command's arguments: a NAME ("one"), an optional one ("all"), or none."""
    def add(p: argparse.ArgumentParser) -> None:
        if name == "one":
            p.add_argument("name", metavar="NAME", help="watcher name")
        elif name == "all":
            p.add_argument("name", metavar="NAME", nargs="?", help="watcher name (default: all)")
        common_options(p)
    return add


def up_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Start the controller as a background daemon and return once it answers "
                     "and every autostart watcher is active.")
    p.add_argument("config", nargs="?", help=CONFIG_HELP + "; default: " + CONFIG_SEARCH)
    p.add_argument("--log-output", metavar="PATH",
                   help="the daemon's output (default: ringleader.log next to the config; "
                   "for a config under /etc, /var/log/ringleader/NAME.log)")
    p.add_argument("--log-format", choices=LOG_FORMATS, help="as `run --log-format`")
    p.add_argument("--worker-output", action="store_true", help="also write the workers' "
                   "console streams to the log, as `run` does to its terminal (default: "
                   "only `ringleader logs` shows them)")
    p.add_argument("--pidfile", metavar="PATH",
                   help="default: the config's pidfile, or ringleader.pid next to the config "
                   "(for a config under /etc, /run/ringleader/NAME.pid)")
    common_options(p, config_option=False, color=False)
    add_procfile_arguments(p)


def startup_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print a systemd unit (Type=notify, KillMode=mixed, Delegate=yes, a "
                     "watchdog) that runs `ringleader run CONFIG` with this Python, as "
                     "`pm2 startup` does; save it under /etc/systemd/system (or "
                     "~/.config/systemd/user with --user) and enable it.")
    p.add_argument("init", choices=("systemd",), help="the service manager")
    CONFIG.add(p, help="the config file (default: " + CONFIG_SEARCH + ")")
    p.add_argument("--user", action="store_true", help="a unit for the user's service "
                   "manager (systemctl --user)")


def quit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", action="store_true",
                   help="return at once instead of when the controller has stopped")
    common_options(p)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the new watcher's name")
    p.add_argument("cmd", metavar="CMD", help="its command line")
    p.add_argument("--start", action="store_true", help="start it at once")
    p.add_argument("-n", "--numprocesses", type=int, default=1, metavar="N",
                   help="how many processes (default 1)")
    common_options(p)


def count_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("count", metavar="N", nargs="?", type=int, default=1,
                   help="how many (default 1)")
    common_options(p)


def signal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name or selector (web:*)")
    p.add_argument("signal", metavar="SIG", help="signal name (TERM, SIGHUP) or number; "
                   "supervisorctl's order, SIG NAME, works too")
    p.add_argument("--pid", type=int, help="only this process")
    p.add_argument("--wid", type=int, help="only this slot of the watcher")
    p.add_argument("--children", action="store_true", help="signal the whole process group")
    common_options(p)


def set_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("pairs", metavar="KEY VALUE", nargs="+",
                   help="option and new value, as in the config file (repeatable)")
    common_options(p)


def get_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("keys", metavar="KEY", nargs="+", help="option name")
    common_options(p)


def logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="only this watcher")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, metavar="LINES", help="how many recent lines")
    p.add_argument("--stream", choices=STREAMS, help="only the processes' stdout or stderr")
    p.add_argument("--wid", type=int, metavar="N", help="only the process in slot N")
    p.add_argument("--since", metavar="WHEN", help="only lines from then on: a duration back "
                   "from now (90s, 10m, 1h30m, 2d) or a time (14:05, 14:05:30, "
                   "2026-11-28T14:05:30, local time)")
    common_options(p)


def words_args(dest: str, metavar: str, text: str) -> Callable[[argparse.ArgumentParser], None]:
    """Any number of words (circusctl's listen TOPIC..., globaloptions KEY...)."""
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument(dest, metavar=metavar, nargs="*", help=text)
        common_options(p)
    return add


def kill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("pid", metavar="PID", nargs="?", type=int, help="only this process")
    p.add_argument("signal", metavar="SIG", nargs="?", help="send this signal instead")
    common_options(p)


def events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", action="append", metavar="T",
                   help="only topics starting with T (repeatable)")
    common_options(p)


def top_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="only this watcher")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="refresh period (default 1, at least 0.5)")
    p.add_argument("--sort", choices=TOP_SORTS, default="name",
                   help="order of watchers and processes: name (config order, then slot), "
                   "cpu or mem (busiest first); keys c, m, n change it live")
    common_options(p)


def token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("new", "hash"),
                   help="new: make a token and its config entry; hash: hash a token")
    p.add_argument("token", nargs="?", metavar="TOKEN",
                   help="with hash: the token (default: read from stdin)")
    p.add_argument("--name", default="operator", help="with new: the token's name")
    p.add_argument("--role", choices=ROLES, default="operate",
                   help="with new: what the token may do (default operate)")


def cluster_args(p: argparse.ArgumentParser) -> None:
    from ringleader.cli.cluster_args import add_arguments

    def config(g: argparse._ArgumentGroup, **kw: Any) -> None:
        CONFIG.add(g, help="a node's config file: its [cluster] table says how to reach "
                   "etcd", **kw)

    def timeout(g: argparse._ArgumentGroup, **kw: Any) -> None:
        TIMEOUT.add(g, help="how long to wait for each node (default 5; reload: 300)", **kw)

    add_arguments(p, [config, JSON.add, timeout, TOKEN.add, CAFILE.add, CERTFILE.add,
                      KEYFILE.add, COLOR.add])


def dashboard_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print a one-time link to the web dashboard: it opens a session in a "
                     "browser once, within 5 minutes (the token is in the link's #fragment, "
                     "which browsers never send). Over the unix socket, the controller opens "
                     "a listener on 127.0.0.1 (a free port) for it; over https, the link is "
                     "on the TLS listener.")
    p.add_argument("--open", action="store_true",
                   help="open it in the web browser too (through a private page: never on "
                   "a command line others can read)")
    p.add_argument("--role", choices=ROLES,
                   help="the session's role: yours (the default) or a lower one")
    common_options(p)


def completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS)


def help_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to explain")


def man_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print the manual page, generated from the commands' definitions "
                     "(`ringleader man | man -l -`). The package installs the same page as "
                     "share/man/man1/ringleader.1, so `man ringleader` finds it.")
