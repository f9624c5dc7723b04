"""The one table of `ringleader` commands: name, help, arguments, handler, and whether it
talks to a controller (and may wait long for it). Handlers are named by "module:function"
and imported only when their command runs, and only the command named on the command line
gets a parser: a console command must start in tens of milliseconds (see
`python -X importtime -m ringleader status`).
"""

from __future__ import annotations

import argparse
import os
import sys

from ringleader.cli.arguments import (
    GLOBAL_DEST_PREFIX,
    GLOBAL_OPTIONS,
    add_args,
    check_args,
    cluster_args,
    completion_args,
    console_args,
    convert_args,
    count_args,
    dashboard_args,
    events_args,
    get_args,
    help_args,
    kill_args,
    logs_args,
    man_args,
    quit_args,
    run_args,
    set_args,
    signal_args,
    startup_args,
    token_args,
    top_args,
    up_args,
    words_args,
)
from ringleader.cli.common import UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence



class _Formatter(argparse.HelpFormatter):
    # argparse's default asks shutil for the terminal width, and importing shutil (with
    # bz2, lzma, zlib) costs ~2 ms on every run; os.get_terminal_size is enough.
    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            width = int(os.environ.get("COLUMNS", "80") or 80)
        super().__init__(prog, width=max(width, 40) - 2)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")




class Command:
    """One `ringleader` command."""

    __slots__ = ("arguments", "client", "handler", "help", "name", "slow")

    def __init__(self, name: str, help: str,
                 arguments: Callable[[argparse.ArgumentParser], None], handler: str,
                 client: bool = False, slow: bool = False) -> None:
        self.name = name
        self.help = help
        self.arguments = arguments
        self.handler = handler  # "module:function", imported when the command runs
        self.client = client  # a console command: the handler takes (args, Client)
        self.slow = slow  # waits for processes to start or stop: the long default timeout


_CONSOLE = "ringleader.cli.console:"
_CIRCUSCTL = "ringleader.cli.circusctl:"
TABLE: tuple[Command, ...] = (
    Command("run", "run the controller in the foreground", run_args,
            "ringleader.cli.run:cmd_run"),
    Command("check", "validate a config file and print what it resolves to", check_args,
            "ringleader.cli.check:cmd_check"),
    Command("up", "start the controller as a background daemon", up_args,
            "ringleader.cli.up:cmd_up"),
    Command("convert", "print a circus, supervisord or Procfile config as native TOML",
            convert_args, "ringleader.cli.convert:cmd_convert"),
    Command("startup", "print a systemd unit that runs the controller on this config at "
            "boot", startup_args, "ringleader.cli.startup:cmd_startup"),
    Command("quit", "stop every watcher and the controller", quit_args,
            _CONSOLE + "cmd_quit", client=True, slow=True),
    Command("status", "watchers and their states; with NAME, its processes", console_args("all"),
            _CONSOLE + "cmd_status", client=True),
    Command("list", "watcher names (comma-separated off a terminal); with NAME, its process "
            "slots", console_args("all"), _CONSOLE + "cmd_list", client=True),
    Command("start", "start a watcher (default: all)", console_args("all"),
            _CONSOLE + "cmd_lifecycle", client=True, slow=True),
    Command("stop", "stop a watcher gracefully (default: all)", console_args("all"),
            _CONSOLE + "cmd_lifecycle", client=True, slow=True),
    Command("restart", "stop then start a watcher (default: all)", console_args("all"),
            _CONSOLE + "cmd_lifecycle", client=True, slow=True),
    Command("reload", "replace processes one at a time (default: all)", console_args("all"),
            _CONSOLE + "cmd_lifecycle", client=True, slow=True),
    Command("reloadconfig", "re-read the config file and apply the differences", console_args(),
            _CONSOLE + "cmd_reloadconfig", client=True, slow=True),
    Command("add", "add a watcher", add_args, _CONSOLE + "cmd_add", client=True, slow=True),
    Command("rm", "stop and remove a watcher", console_args("one"), _CONSOLE + "cmd_rm",
            client=True, slow=True),
    Command("incr", "add processes to a watcher", count_args, _CONSOLE + "cmd_count",
            client=True, slow=True),
    Command("decr", "remove processes from a watcher", count_args, _CONSOLE + "cmd_count",
            client=True, slow=True),
    Command("numprocesses", "how many processes a watcher has", console_args("one"),
            _CONSOLE + "cmd_numprocesses", client=True),
    Command("signal", "send a signal to a watcher's processes", signal_args,
            _CONSOLE + "cmd_signal", client=True),
    Command("set", "change options of a watcher", set_args, _CONSOLE + "cmd_set",
            client=True, slow=True),
    Command("get", "print options of a watcher", get_args, _CONSOLE + "cmd_get",
            client=True),
    Command("options", "every option of a watcher", console_args("one"),
            _CONSOLE + "cmd_options", client=True),
    Command("stats", "CPU, memory, fds per process", console_args("all"), _CONSOLE + "cmd_stats",
            client=True),
    Command("top", "live view of the processes' resources", top_args,
            "ringleader.cli.top:cmd_top", client=True),
    Command("logs", "recent output lines (-f: follow)", logs_args, _CONSOLE + "cmd_logs",
            client=True),
    Command("events", "follow the controller's events", events_args,
            _CONSOLE + "cmd_events", client=True),
    Command("sockets", "listening sockets", console_args(), _CONSOLE + "cmd_sockets", client=True),
    Command("cluster", "drive the controllers of many hosts through etcd (nodes, status, "
            "apply, rm, scale, reload, restart, signal, logs, events, drain, undrain)",
            cluster_args, "ringleader.cli.cluster:cmd_cluster"),
    Command("dashboard", "print a one-time link to the web dashboard", dashboard_args,
            "ringleader.cli.dashboard:cmd_dashboard", client=True),
    # circusctl's verbs
    Command("listsockets", "listening sockets (circusctl; as sockets)", console_args(),
            _CONSOLE + "cmd_sockets", client=True),
    Command("listen", "follow the controller's events (circusctl; as events)",
            words_args("topics", "TOPIC", "only topics starting so"), _CIRCUSCTL + "cmd_listen",
            client=True),
    Command("dstats", "the controller process's own CPU, memory, fds (circusctl)",
            console_args(), _CIRCUSCTL + "cmd_dstats", client=True),
    Command("globaloptions", "the controller's options (circusctl)",
            words_args("keys", "KEY", "only these options"), _CIRCUSCTL + "cmd_globaloptions",
            client=True),
    Command("numwatchers", "how many watchers (circusctl)", console_args(),
            _CIRCUSCTL + "cmd_numwatchers", client=True),
    Command("listpids", "a watcher's pids, comma-separated (circusctl)", console_args("one"),
            _CIRCUSCTL + "cmd_listpids", client=True),
    Command("kill", "stop a watcher's processes (or PID) gracefully and respawn them; with "
            "SIG, send it (circusctl)", kill_args, _CIRCUSCTL + "cmd_kill", client=True,
            slow=True),
    Command("token", "make or hash an API token for the TCP listener", token_args,
            "ringleader.cli.token:cmd_token"),
    Command("completion", "print a shell completion script", completion_args,
            "ringleader.cli.completion:cmd_completion"),
    Command("help", "explain a command (or list them all)", help_args,
            "ringleader.cli.dispatch:cmd_help"),
    Command("man", "print the manual page (roff)", man_args,
            "ringleader.cli.manpage:cmd_man"),
)
COMMANDS: dict[str, Command] = {c.name: c for c in TABLE}


class _TopParser(_Parser):
    """The `ringleader` parser; `commands` holds the subcommand parsers it was built with."""

    commands: dict[str, argparse.ArgumentParser]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's (the others cost start-up time).

    The global options land in `global_<dest>` and only when given: `main` hands them to
    the command (see `GLOBAL_OPTIONS`)."""
    parser = _TopParser(prog="ringleader", description="Run and control groups of processes.",
                        epilog="`ringleader help COMMAND` (or COMMAND --help) explains one.")
    parser.add_argument("-V", "--version", action="store_true",
                        help="print the version and exit")
    g = parser.add_argument_group("options for the command that follows (also accepted "
                                  "after it)")
    for option in GLOBAL_OPTIONS:
        option.add(g, dest=GLOBAL_DEST_PREFIX + option.dest, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.commands = {}
    for command in TABLE:
        if only is None or command.name == only:
            text = command.help
            parser.commands[command.name] = sub.add_parser(
                command.name, help=text, description=text[:1].upper() + text[1:] + ".")
            command.arguments(parser.commands[command.name])
    return parser


_VALUE_FLAGS = frozenset(f for o in GLOBAL_OPTIONS if o.metavar for f in o.flags)


def named_command(argv: Sequence[str]) -> str | None:
    """The word in the command's place on the command line (past the global options and
    their values), known command or not; None if there is none."""
    words = iter(argv)
    for arg in words:
        if arg == "--":
            return next(words, None)
        if arg in _VALUE_FLAGS:
            next(words, None)
        elif not arg.startswith("-") or arg == "-":
            return arg
    return None
