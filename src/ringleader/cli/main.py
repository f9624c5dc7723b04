"""The `ringleader` command: run the one command the command line names.

The common read commands in their plain forms (`status`, `list`, with NAME and the
controller options) take a fast path (``cli.fast``) that imports neither argparse nor
tomllib; everything else, and every form that path is not sure of, goes through argparse
(``cli.dispatch``). Both run the same handlers, so they print the same.

Exit codes: 0 ok, 1 the controller refused or failed the action, 2 usage or config
error, 3 controller unreachable, 4 `status` found a failed, flapping or backoff watcher,
130 interrupted.
"""

from __future__ import annotations

import os
import sys

from ringleader.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    error,
    json_error,
)
from ringleader.cli.fast import FastArgs, read_fast, run_fast

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Sequence


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def main(argv: Sequence[str] | None = None, *, fast: bool = True) -> int:
    """Run the command of `argv` (default: sys.argv); `fast=False` takes the argparse path
    for every form (the tests compare both)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return _run(argv, read_fast(argv) if fast else None)


def _run(argv: list[str], args: FastArgs | None) -> int:
    """The fast path with `args` (read by read_fast), else the argparse path."""
    try:
        if args is not None:
            return run_fast(args)
        from ringleader.cli.dispatch import parse_and_run

        return parse_and_run(argv)
    except UsageError as exc:
        error(str(exc))
        if _wants_json(argv):
            json_error("usage", str(exc), EXIT_USAGE)
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
    argv = sys.argv[1:]
    args = read_fast(argv)  # read once: it also says which exit to take
    code = _run(argv, args)
    if args is not None:
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> None:
    """The fast path's exit: flush, then leave without the interpreter's teardown (freeing
    every module and object costs ~1 ms of a ~15 ms `status`); that path starts no thread
    and registers no atexit handler, and the kernel closes its files."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: started with that descriptor closed
                stream.flush()
    except OSError:  # a closed pipe: the ordinary exit reports it, as it always did
        sys.exit(code)
    os._exit(code)
