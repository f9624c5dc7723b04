"""The full path of the `ringleader` command (``cli.main``): parse the command line with
argparse, run the one command it names (see ``cli.commands`` for the table).
"""

from __future__ import annotations

import sys

from ringleader.cli.arguments import GLOBAL_DEST_PREFIX, GLOBAL_OPTIONS
from ringleader.cli.commands import COMMANDS, Command, build_parser, named_command
from ringleader.cli.common import EXIT_OK, EXIT_USAGE, UsageError, suggestion

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

# What operators of other tools type: the nearest spelling would not find these.
SYNONYMS = {"ls": "list", "remove": "rm", "delete": "rm", "del": "rm",
            "log": "logs", "tail": "logs", "ps": "status", "stat": "status",
            "shutdown": "quit", "exit": "quit", "daemon": "up", "serve": "run",
            "scale": "incr", "version": "--version", "config": "check", "validate": "check"}


def _handler(command: Command) -> Callable[..., int]:
    """The command's handler, imported now: only the command that runs pays for its
    imports (the controller's engine for `run`, rich for `top`)."""
    from importlib import import_module

    module, _, name = command.handler.partition(":")
    try:
        handler: Callable[..., int] = getattr(import_module(module), name)
    except ImportError as exc:
        raise UsageError(f"ringleader {command.name} is not available: {exc}") from None
    return handler


def unknown_command(word: str) -> UsageError:
    best = suggestion(word, COMMANDS, SYNONYMS)
    hint = f"did you mean {best}?" if best else "`ringleader help` lists the commands"
    return UsageError(f"ringleader: unknown command {word!r}: {hint}")


def apply_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Hand the options given before the command to it: an option given after the command
    wins; one the command does not take is a usage error. `-c CONFIG` before run or up
    names their optional CONFIG argument (same dest)."""
    command = parser.commands[args.command]  # type: ignore[attr-defined]
    accepted = {a.dest: a for a in command._actions}
    for option in GLOBAL_OPTIONS:
        key = GLOBAL_DEST_PREFIX + option.dest
        if not hasattr(args, key):
            continue
        value = getattr(args, key)
        delattr(args, key)
        action = accepted.get(option.dest)
        if action is None:
            raise UsageError(f"ringleader {args.command}: {'/'.join(option.flags)} does not "
                             "apply to this command")
        if getattr(args, option.dest) == action.default:
            setattr(args, option.dest, value)


def dispatch(args: argparse.Namespace) -> int:
    command = COMMANDS[args.command]
    handler = _handler(command)
    if not command.client:
        return handler(args)
    from ringleader.cli.console import run_console

    return run_console(args, handler, slow=command.slow)


def cmd_help(args: argparse.Namespace) -> int:
    """`ringleader help [COMMAND]`: its --help, on stdout."""
    if args.topic is None:
        build_parser().print_help(sys.stdout)
        return EXIT_OK
    if args.topic not in COMMANDS:
        raise unknown_command(args.topic)
    parser = build_parser(args.topic)
    parser.commands[args.topic].print_help(sys.stdout)  # type: ignore[attr-defined]
    return EXIT_OK


def parse_and_run(argv: list[str]) -> int:
    """Parse `argv` with argparse and run the command it names (UsageError for a mistake)."""
    word = named_command(argv)
    if word is not None and word not in COMMANDS:
        raise unknown_command(word)
    parser = build_parser(word)
    args = parser.parse_args(argv)
    if args.version:
        from ringleader import __version__

        print(f"ringleader {__version__}")
        return EXIT_OK
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return EXIT_USAGE
    apply_global_options(parser, args)
    return dispatch(args)
