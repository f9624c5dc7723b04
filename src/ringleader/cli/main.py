"""The `ringleader` command. Kept light: each subcommand imports what it needs, when run.

Exit codes: 0 ok, 1 the controller refused or failed the action, 2 usage or config
error, 3 controller unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringleader.config.model import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_CONFIGS = ("ringleader.toml", "ringleader.ini", "circus.ini")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ringleader", description="Run and control groups of processes.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run the controller in the foreground",
                         description="Run the controller in the foreground. Ctrl-C or SIGTERM "
                         "stops every process gracefully; SIGHUP reloads the config file.")
    run.add_argument("config", nargs="?", help="config file (TOML or circus INI); default: "
                     + ", ".join(DEFAULT_CONFIGS) + " in the current directory")
    run.add_argument("--cmd", help="run this command without a config file")
    run.add_argument("-n", "--numprocesses", type=int, default=1, metavar="N",
                     help="with --cmd: how many processes (default 1)")
    run.add_argument("--name", help="with --cmd: the watcher's name")
    run.add_argument("--shell", action="store_true", help="with --cmd: run it through /bin/sh")
    run.add_argument("--log-level", choices=LOG_LEVELS, help="default: the config's, or info")
    run.add_argument("--log-output", metavar="PATH", help="'-' for stderr (default) or a file")

    check = sub.add_parser("check", help="validate a config file and print what it resolves to")
    check.add_argument("config", help="config file (TOML or circus INI)")
    check.add_argument("--json", action="store_true", help="print the resolved config as JSON")
    return parser


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
    from ringleader.daemon import run

    return run(config)


def cmd_check(args: argparse.Namespace) -> int:
    from ringleader.cli.check import run_check

    return run_check(args.config, as_json=args.json, out=sys.stdout, err=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.version:
        from ringleader import __version__

        print(f"ringleader {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args)
        return cmd_check(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())
