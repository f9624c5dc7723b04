"""The console's fast path: `status` and `list` in their plain forms, read off the command
line by hand.

argparse (with re, gettext, locale) costs ~5 ms of a command that, with Python's own
start-up, should take ~15. So the plain forms are read here:
``ringleader [OPTION...] status|list [OPTION...] [NAME] [OPTION...]``, each OPTION one of the
controller options (`-e`, `-c`, `--json`, `--timeout`, ...) as two words (`-e X`), as one
(`--endpoint=X`), or a flag. Anything else (--help, an abbreviation, `-eX`, `--`, a value
that starts with `-`, a second NAME, an unknown option, another command) returns None:
the argparse path (``cli.dispatch``) parses it and says what is wrong, exactly as before.
What is read here is what argparse would read (tests/unit/cli/test_fast.py compares them),
and it runs the same handlers.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from argparse import Namespace as _Base
    from collections.abc import Sequence
else:
    _Base = object

# The commands read here -> their handler in cli.console (the table in cli.commands says
# the same: tests/unit/cli/test_fast.py checks it). Neither is slow.
COMMANDS = {"status": "cmd_status", "list": "cmd_list"}
# The controller options (cli.arguments.GLOBAL_OPTIONS), by flag -> dest.
VALUE_OPTIONS = {"-e": "endpoint", "--endpoint": "endpoint", "-c": "config",
                 "--config": "config", "--timeout": "timeout", "--token": "token",
                 "--cafile": "cafile", "--certfile": "certfile", "--keyfile": "keyfile",
                 "--color": "color"}
FLAGS = {"--json": "json"}
# cli.arguments' COLOR_CHOICES and MAX_TIMEOUT (that module imports argparse)
COLOR_CHOICES = ("auto", "always", "never")
MAX_TIMEOUT = 1e9
_DIGITS = frozenset("0123456789")


class FastArgs(_Base):
    """The Namespace argparse would make (argparse itself is not imported: that is the
    point); its `vars()` are the same."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def _seconds(text: str) -> float | None:
    """--timeout's value in the plain form only (digits, one dot): float() of it, as
    argparse's type=float; None for anything else, which argparse then judges."""
    whole, _, fraction = text.partition(".")
    if not whole or not set(whole) <= _DIGITS or not set(fraction) <= _DIGITS:
        return None
    value = float(text)
    return value if value <= MAX_TIMEOUT else None


def _value(dest: str, text: str) -> object:
    """The option's value as argparse would store it; None: not a plain one."""
    if text.startswith("-"):
        return None  # argparse may take it for an option
    if dest == "timeout":
        return _seconds(text)
    if dest == "color" and text not in COLOR_CHOICES:
        return None
    return text


def read_fast(argv: Sequence[str]) -> FastArgs | None:
    """The arguments of a plain `status` or `list` command line; None for anything else."""
    before: dict[str, object] = {}  # options before the command: argparse's global_<dest>
    after: dict[str, object] = {}
    command: str | None = None
    name: str | None = None
    words = iter(argv)
    for word in words:
        given = after if command is not None else before
        if not word.startswith("-"):
            if command is None:
                if word not in COMMANDS:
                    return None
                command = word
            elif name is None:
                name = word
            else:
                return None  # a second NAME: argparse says what is wrong
            continue
        flag, eq, inline = word.partition("=")
        if word in FLAGS:
            given[FLAGS[word]] = True
        elif flag in VALUE_OPTIONS and (not eq or flag.startswith("--")):
            text = inline if eq else next(words, None)
            if text is None or (eq and not text):
                return None
            value = _value(VALUE_OPTIONS[flag], text)
            if value is None:
                return None
            given[VALUE_OPTIONS[flag]] = value
        else:
            return None
    if command is None:
        return None
    values: dict[str, object] = {"version": False, "command": command, "name": name}
    for dest in (*dict.fromkeys(VALUE_OPTIONS.values()), *FLAGS.values()):
        default = False if dest in FLAGS.values() else None
        value = after.get(dest, default)
        # cli.dispatch.apply_global_options: an option after the command wins
        if value == default and dest in before:
            value = before[dest]
        values[dest] = value
    return FastArgs(**values)


def run_fast(args: FastArgs) -> int:
    """Run the command as the argparse path would (cli.dispatch.dispatch)."""
    from ringleader.cli import console

    handler = getattr(console, COMMANDS[args.command])
    return console.run_console(args, handler, slow=False)
