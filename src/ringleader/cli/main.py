"""The `ringleader` command: parse the command line, run the one command it names (see
``cli.commands`` for the table).

Exit codes: 0 ok, 1 the controller refused or failed the action, 2 usage or config
error, 3 controller unreachable, 130 interrupted.
"""

from __future__ import annotations

import os
import sys

from ringleader.cli.commands import COMMANDS, Command, build_parser, named_command
from ringleader.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, error

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence


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


def dispatch(args: argparse.Namespace) -> int:
    command = COMMANDS[args.command]
    handler = _handler(command)
    if not command.client:
        return handler(args)
    from ringleader.cli.console import run_console

    return run_console(args, handler, slow=command.slow)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(named_command(argv))
    try:
        args = parser.parse_args(argv)
        if args.version:
            from ringleader import __version__

            print(f"ringleader {__version__}")
            return EXIT_OK
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        return dispatch(args)
    except UsageError as exc:
        error(str(exc))
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

