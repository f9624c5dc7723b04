"""`ringleader man`: the manual page, rendered to roff (man(7) macros) from the parser, so it
says what the commands really take. The package installs the same text as
`share/man/man1/ringleader.1` (a test keeps that copy in step with this renderer).
"""

from __future__ import annotations

import argparse
import sys

from ringleader.cli.common import EXIT_OK
from ringleader.cli.completion import command_help, options, positionals, subcommands

DESCRIPTION = (
    "Ringleader runs groups of worker processes (watchers), respawns them when they die and "
    "stops them gracefully. \\fBringleader run\\fR runs the controller in the foreground and "
    "\\fBringleader up\\fR in the background; the other commands talk to a running controller "
    "over its control API (a unix socket by default, or HTTPS with a token)."
)
EXIT_STATUS = (
    ("0", "success"),
    ("1", "the controller refused or failed the action (its error on one line)"),
    ("2", "usage or config error"),
    ("3", "the controller cannot be reached"),
    ("4", "\\fBstatus\\fR: a watcher shown is failed, flapping or backoff"),
    ("130", "interrupted (Ctrl-C)"),
)
ENVIRONMENT = (
    ("RINGLEADER_ENDPOINT", "the controller's endpoint when neither -e nor -c is given"),
    ("RINGLEADER_TOKEN", "the bearer token when --token is not given (also the one "
                         "`cluster` sends to every node)"),
    ("RINGLEADER_ETCD", "`cluster`: etcd's client URLs when neither --etcd nor -c is given"),
    ("RINGLEADER_ETCD_PASSWORD", "`cluster`: the password of --etcd-user"),
    ("NO_COLOR", "when set and not empty, no colours (unless --color always)"),
    ("FORCE_COLOR", "when set and not empty, colours even when not on a terminal (unless "
                    "NO_COLOR or --color never)"),
)


def roff_escape(text: str) -> str:
    """Text safe in a roff line: backslashes and dashes escaped, no line starting with a
    control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _usage(name: str, sub: argparse.ArgumentParser) -> str:
    parts = [f"\\fBringleader {name}\\fR"]
    for action in positionals(sub):
        word = roff_escape(str(action.metavar or action.dest))
        if action.choices and not action.metavar:
            word = "|".join(roff_escape(str(c)) for c in action.choices)
        parts.append(f"[\\fI{word}\\fR]" if action.nargs in ("?", "*") else f"\\fI{word}\\fR")
    if options(sub):
        parts.append("[\\fIoptions\\fR]")
    return " ".join(parts)


def _option(action: argparse.Action) -> list[str]:
    flags = ", ".join(f"\\fB{roff_escape(o)}\\fR" for o in action.option_strings)
    if action.nargs != 0:
        value = action.metavar or (
            "|".join(map(str, action.choices)) if action.choices else action.dest.upper())
        flags += f" \\fI{roff_escape(str(value))}\\fR"
    return [".TP", flags, roff_escape(action.help or "")]


def render(parser: argparse.ArgumentParser, version: str) -> str:
    commands = subcommands(parser)
    out = [
        f'.TH RINGLEADER 1 "" "ringleader {roff_escape(version)}" "User Commands"',
        ".SH NAME",
        "ringleader \\- run, watch and control groups of processes",
        ".SH SYNOPSIS",
        "\\fBringleader\\fR [\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIarguments\\fR]",
        ".SH DESCRIPTION",
        DESCRIPTION,
        ".SH GLOBAL OPTIONS",
        "Given before the command, they apply to it (given after it as well, that one wins); "
        "a command that does not take one refuses it.",
    ]
    for action in options(parser):
        out += _option(action)
    out.append(".SH COMMANDS")
    for name, sub in commands.items():
        out += [".SS " + roff_escape(name), _usage(name, sub), ".PP",
                roff_escape(sub.description or command_help(parser, name))]
        for action in positionals(sub):
            if action.help:
                out += [".TP", f"\\fI{roff_escape(str(action.metavar or action.dest))}\\fR",
                        roff_escape(action.help)]
        for action_name, action_parser in subcommands(sub).items():  # `cluster ACTION`
            out += [".TP", _usage(f"{name} {action_name}", action_parser),
                    roff_escape(command_help(sub, action_name))]
        for action in options(sub):
            out += _option(action)
    out.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", meaning]
    out.append(".SH ENVIRONMENT")
    for var, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{roff_escape(var)}\\fR", roff_escape(meaning)]
    out += [".SH SEE ALSO", "\\fBsupervisord\\fR(1), \\fBcircusd\\fR(1), \\fBsystemd\\fR(1)"]
    return "\n".join(out) + "\n"


def manual() -> str:
    from ringleader import __version__
    from ringleader.cli.commands import build_parser

    return render(build_parser(), __version__)


def cmd_man(args: argparse.Namespace) -> int:
    sys.stdout.write(manual())
    return EXIT_OK
