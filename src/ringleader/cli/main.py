"""The `ringleader` command. Kept light: each subcommand imports what it needs, when run,
and only the subcommand named on the command line gets a parser (a console command must
start in tens of milliseconds: see `python -X importtime -m ringleader status`).

Exit codes: 0 ok, 1 the controller refused or failed the action, 2 usage or config
error, 3 controller unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ringleader.config.model import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_CONFIGS = ("ringleader.toml", "ringleader.ini", "circus.ini")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class UsageError(Exception):
    pass


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


# -- subcommand definitions: (help, add arguments) -------------------------------------

def _run_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Run the controller in the foreground. Ctrl-C or SIGTERM stops every "
                     "process gracefully; SIGHUP reloads the config file.")
    p.add_argument("config", nargs="?", help="config file (TOML or circus INI); default: "
                   + ", ".join(DEFAULT_CONFIGS) + " in the current directory")
    p.add_argument("--cmd", help="run this command without a config file")
    p.add_argument("-n", "--numprocesses", type=int, default=1, metavar="N",
                   help="with --cmd: how many processes (default 1)")
    p.add_argument("--name", help="with --cmd: the watcher's name")
    p.add_argument("--shell", action="store_true", help="with --cmd: run it through /bin/sh")
    p.add_argument("--log-level", choices=LOG_LEVELS, help="default: the config's, or info")
    p.add_argument("--log-output", metavar="PATH", help="'-' for stderr (default) or a file")
    p.add_argument("--pidfile", metavar="PATH", help="write the controller's pid there while "
                   "it runs (default: the config's pidfile, or none)")
    p.add_argument("--init", action="store_true", help="act as init: reap orphaned "
                   "descendants (automatic as PID 1 of a container; a child subreaper "
                   "otherwise)")


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config file (TOML or circus INI)")
    p.add_argument("--json", action="store_true", help="print the resolved config as JSON")


def _common(p: argparse.ArgumentParser, *, config_option: bool = True) -> None:
    g = p.add_argument_group("controller options")
    g.add_argument("--json", action="store_true", help="print the raw JSON answer")
    g.add_argument("-e", "--endpoint", metavar="ENDPOINT",
                   help="unix:PATH or https://HOST:PORT (default: $RINGLEADER_ENDPOINT, the "
                   "CONFIG's endpoint, or unix:ringleader.sock here)")
    if config_option:
        g.add_argument("-c", "--config", metavar="CONFIG",
                       help="take the endpoint from this config file")
    g.add_argument("--token", metavar="TOKEN", help="bearer token (default: $RINGLEADER_TOKEN)")
    g.add_argument("--cafile", metavar="PATH", help="CA bundle to verify an https controller")
    g.add_argument("--certfile", metavar="PATH", help="client certificate (https)")
    g.add_argument("--keyfile", metavar="PATH", help="client certificate's key (https)")
    g.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="give up waiting for the controller after this long")


def _console(name: str = "") -> Callable[[argparse.ArgumentParser], None]:
    """A console command's arguments: a NAME ("one"), an optional one ("all"), or none."""
    def add(p: argparse.ArgumentParser) -> None:
        if name == "one":
            p.add_argument("name", metavar="NAME", help="watcher name")
        elif name == "all":
            p.add_argument("name", metavar="NAME", nargs="?", help="watcher name (default: all)")
        _common(p)
    return add


def _up_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Start the controller as a background daemon and return once it answers "
                     "and every autostart watcher is active.")
    p.add_argument("config", nargs="?", help="config file; default: "
                   + ", ".join(DEFAULT_CONFIGS) + " in the current directory")
    p.add_argument("--log-output", metavar="PATH",
                   help="the daemon's output (default: ringleader.log next to the config)")
    p.add_argument("--pidfile", metavar="PATH",
                   help="default: the config's pidfile, or ringleader.pid next to the config")
    _common(p, config_option=False)


def _quit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", action="store_true",
                   help="return at once instead of when the controller has stopped")
    _common(p)


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the new watcher's name")
    p.add_argument("cmd", metavar="CMD", help="its command line")
    p.add_argument("--start", action="store_true", help="start it at once")
    p.add_argument("-n", "--numprocesses", type=int, default=1, metavar="N",
                   help="how many processes (default 1)")
    _common(p)


def _count_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("count", metavar="N", nargs="?", type=int, default=1,
                   help="how many (default 1)")
    _common(p)


def _signal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("signal", metavar="SIG", help="signal name (TERM, SIGHUP) or number")
    p.add_argument("--pid", type=int, help="only this process")
    p.add_argument("--wid", type=int, help="only this slot of the watcher")
    p.add_argument("--children", action="store_true", help="signal the whole process group")
    _common(p)


def _set_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("pairs", metavar="KEY VALUE", nargs="+",
                   help="option and new value, as in the config file (repeatable)")
    _common(p)


def _get_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="watcher name")
    p.add_argument("keys", metavar="KEY", nargs="+", help="option name")
    _common(p)


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="only this watcher")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, metavar="LINES", help="how many recent lines")
    _common(p)


def _events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", action="append", metavar="T",
                   help="only topics starting with T (repeatable)")
    _common(p)


def _top_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="only this watcher")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="refresh period (default 1)")
    _common(p)


def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("new", "hash"),
                   help="new: make a token and its config entry; hash: hash a token")
    p.add_argument("token", nargs="?", metavar="TOKEN",
                   help="with hash: the token (default: read from stdin)")
    p.add_argument("--name", default="operator", help="with new: the token's name")
    p.add_argument("--role", choices=("read", "operate", "admin"), default="operate",
                   help="with new: what the token may do (default operate)")


def _completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh"))


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "run": ("run the controller in the foreground", _run_args),
    "check": ("validate a config file and print what it resolves to", _check_args),
    "up": ("start the controller as a background daemon", _up_args),
    "quit": ("stop every watcher and the controller", _quit_args),
    "status": ("watchers and their states; with NAME, its processes", _console("all")),
    "list": ("watcher names", _console()),
    "start": ("start a watcher (default: all)", _console("all")),
    "stop": ("stop a watcher gracefully (default: all)", _console("all")),
    "restart": ("stop then start a watcher (default: all)", _console("all")),
    "reload": ("replace processes one at a time (default: all)", _console("all")),
    "reloadconfig": ("re-read the config file and apply the differences", _console()),
    "add": ("add a watcher", _add_args),
    "rm": ("stop and remove a watcher", _console("one")),
    "incr": ("add processes to a watcher", _count_args),
    "decr": ("remove processes from a watcher", _count_args),
    "numprocesses": ("how many processes a watcher has", _console("one")),
    "signal": ("send a signal to a watcher's processes", _signal_args),
    "set": ("change options of a watcher", _set_args),
    "get": ("print options of a watcher", _get_args),
    "options": ("every option of a watcher", _console("one")),
    "stats": ("CPU, memory, fds per process", _console("all")),
    "top": ("live view of the processes' resources", _top_args),
    "logs": ("recent output lines (-f: follow)", _logs_args),
    "events": ("follow the controller's events", _events_args),
    "sockets": ("listening sockets", _console()),
    "token": ("make or hash an API token for the TCP listener", _token_args),
    "completion": ("print a shell completion script", _completion_args),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's (the others cost start-up time)."""
    parser = _Parser(prog="ringleader", description="Run and control groups of processes.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_args) in COMMANDS.items():
        if only is None or name == only:
            add_args(sub.add_parser(name, help=help_text, description=help_text[:1].upper()
                                    + help_text[1:] + "."))
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


# -- run and check ----------------------------------------------------------------------

def _find_config() -> str | None:
    for name in DEFAULT_CONFIGS:
        if os.path.isfile(name):
            return name
    return None


def _load_for_run(args: argparse.Namespace) -> Config:
    from ringleader.config.load import config_from_dicts, load_config

    if args.cmd and args.config:
        raise UsageError("ringleader run: give either a CONFIG file or --cmd, not both")
    if args.cmd:
        if args.numprocesses < 0:
            raise UsageError("ringleader run: -n must be 0 or more")
        watcher = {"cmd": args.cmd, "numprocesses": args.numprocesses, "copy_env": True,
                   "shell": args.shell}
        if args.name:
            watcher["name"] = args.name
        return config_from_dicts([watcher])
    path = args.config or _find_config()
    if path is None:
        raise UsageError("ringleader run: no CONFIG given and none of "
                         + ", ".join(DEFAULT_CONFIGS) + " here (or use --cmd)")
    return load_config(path)


def cmd_run(args: argparse.Namespace) -> int:
    from ringleader.errors import ConfigError
    from ringleader.logs import setup_logging

    try:
        config = _load_for_run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    level = args.log_level or config.controller.loglevel
    output = args.log_output or config.controller.logoutput
    try:
        setup_logging(level, output)
    except OSError as exc:
        print(f"error: cannot open log output {output!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _skip_ssl_if_unneeded(config)
    from ringleader.cli.daemonize import PidFile
    from ringleader.daemon import run

    pidfile = PidFile(args.pidfile or config.controller.pidfile)
    try:
        pidfile.write()
    except OSError as exc:
        print(f"error: cannot write the pidfile {pidfile.path}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_USAGE
    from ringleader.errors import RingleaderError

    try:
        return run(config, init=args.init)
    except RingleaderError as exc:  # e.g. more processes than max_processes
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. the socket's directory cannot be made: one line, no trace
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        pidfile.remove()


def cmd_token(args: argparse.Namespace) -> int:
    from ringleader.api.auth import hash_token, new_token

    if args.action == "hash":
        token = args.token if args.token is not None else sys.stdin.readline().strip()
        if not token:
            raise UsageError("ringleader token hash: no token given")
        print(hash_token(token))
        return EXIT_OK
    token = new_token()
    print(f"token (give it to the client; it is not stored): {token}", file=sys.stderr)
    print(f'[[ringleader.tokens]]\nname = "{args.name}"\nrole = "{args.role}"\n'
          f'hash = "{hash_token(token)}"')
    return EXIT_OK


def _skip_ssl_if_unneeded(config: Config) -> None:
    """asyncio imports ssl, which maps libssl and libcrypto: about 4 MB of the controller's
    memory (a sixth). A controller without a TLS listener, Python hooks (user code may want
    ssl) or https health checks never uses it, so it is kept out."""
    if "asyncio" in sys.modules or config.controller.tcp is not None:
        return
    for w in config.watchers:
        if any(h.kind == "python" for h in w.hooks.values()):
            return
        if w.health is not None and (w.health.url or "").startswith("https:"):
            return
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]


def cmd_check(args: argparse.Namespace) -> int:
    from ringleader.cli.check import run_check

    return run_check(args.config, as_json=args.json, out=sys.stdout, err=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "run":
        return cmd_run(args)
    if command == "check":
        return cmd_check(args)
    if command == "token":
        return cmd_token(args)
    if command == "completion":
        from ringleader.cli.completion import script

        sys.stdout.write(script(args.shell, build_parser()))
        return EXIT_OK
    if command == "up":
        from ringleader.cli.daemonize import cmd_up

        return cmd_up(args)
    from ringleader.cli.console import run_console

    return run_console(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_named_command(argv))
    try:
        args = parser.parse_args(argv)
        if args.version:
            from ringleader import __version__

            print(f"ringleader {__version__}")
            return EXIT_OK
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        return _dispatch(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`ringleader logs | head`): not an error; keep Python's
        # exit-time flush of stdout from complaining about it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def entry() -> None:
    sys.exit(main())
