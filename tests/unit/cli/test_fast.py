"""The console's fast path reads a plain `status`/`list` command line as argparse does, and
hands every other form over to argparse (cli.fast)."""

from __future__ import annotations

import itertools
import random

import pytest

from ringleader.cli import arguments, fast
from ringleader.cli.commands import COMMANDS, build_parser, named_command
from ringleader.cli.common import UsageError
from ringleader.cli.dispatch import apply_global_options


def argparse_vars(argv: list[str]) -> dict[str, object]:
    """What the argparse path hands the command (cli.dispatch.parse_and_run)."""
    parser = build_parser(named_command(argv))
    args = parser.parse_args(argv)
    apply_global_options(parser, args)
    return vars(args)


def fast_vars(argv: list[str]) -> dict[str, object] | None:
    args = fast.read_fast(argv)
    return None if args is None else vars(args)


ACCEPTED = [
    ["status"],
    ["list"],
    ["status", "web"],
    ["status", ""],
    ["status", "web:*"],
    ["status", "-c", "r.toml"],
    ["-c", "r.toml", "status", "web", "--json"],
    ["status", "--config", "r.toml", "web"],
    ["status", "--json", "web", "-e", "unix:/x"],
    ["status", "-e", "", ""],
    ["status", "web", "-c", "r.toml"],
    ["-c", "r.toml", "status"],
    ["-e", "unix:/x.sock", "status", "web"],
    ["status", "-e", "unix:/x.sock"],
    ["status", "--endpoint", "https://h:1"],
    ["status", "--endpoint=unix:/x.sock"],
    ["status", "-e", ""],
    ["--json", "status"],
    ["status", "--json"],
    ["status", "web", "--json", "--json"],
    ["--json", "status", "--json"],
    ["-e", "unix:/a", "status", "-e", "unix:/b"],
    ["-e", "unix:/a", "status", "-e", ""],
    ["status", "-e", "unix:/a", "-e", "unix:/b"],
    ["-c", "a.toml", "status", "-e", "unix:/b"],
    ["status", "--timeout", "5"],
    ["status", "--timeout", "0"],
    ["status", "--timeout", "2.5", "--timeout=3."],
    ["--timeout", "1", "status", "--timeout", "0"],
    ["status", "--token", "t0k", "--cafile", "ca.pem", "--certfile", "c.pem",
     "--keyfile", "k.pem"],
    ["status", "--color", "never"],
    ["--color", "always", "status", "--color=auto"],
    ["list", "web", "-c", "r.toml", "--json"],
    ["-e", "status", "status"],  # -e's value is the word `status`
]

HANDED_OVER = [
    [],
    ["web"],
    ["start"],
    ["stats"],
    ["status", "-h"],
    ["status", "--help"],
    ["-V"],
    ["--version", "status"],
    ["help", "status"],
    ["status", "a", "b"],
    ["status", "--"],
    ["--", "status"],
    ["status", "--", "web"],
    ["status", "-"],
    ["status", "-e"],
    ["status", "-c"],
    ["status", "-eunix:/x"],
    ["status", "-e=unix:/x"],
    ["status", "--end", "unix:/x"],
    ["status", "--js"],
    ["status", "--json=1"],
    ["status", "--endpoint="],
    ["status", "-e", "-x"],
    ["status", "-e", "--json"],
    ["status", "--timeout", "-1"],
    ["status", "--timeout", "nan"],
    ["status", "--timeout", "inf"],
    ["status", "--timeout", "1e3"],
    ["status", "--timeout", ".5"],
    ["status", "--timeout", " 5"],
    ["status", "--timeout", "5_0"],
    ["status", "--timeout", "\u0661"],  # an Arabic-Indic 1: float() takes it, not here
    ["status", "--timeout", "2000000000"],
    ["status", "--color", "sometimes"],
    ["status", "--color", ""],
    ["status", "--unknown"],
    ["status", "-x"],
    ["-x", "status"],
    ["-e", "unix:/x"],
    ["stauts"],
    ["ls"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_a_plain_form_reads_as_argparse_reads_it(argv: list[str]) -> None:
    assert fast_vars(argv) == argparse_vars(argv)


@pytest.mark.parametrize("argv", HANDED_OVER, ids=lambda a: " ".join(a) or "(none)")
def test_any_other_form_is_handed_to_argparse(argv: list[str]) -> None:
    assert fast.read_fast(argv) is None


WORDS = [["-e", "unix:/a"], ["--endpoint", "unix:/b"], ["--endpoint=unix:/c"], ["-c", "x.toml"],
         ["--config=y.toml"], ["--json"], ["--timeout", "7"], ["--timeout=0.5"],
         ["--token", "t"], ["--cafile", "ca"], ["--certfile", "c"], ["--keyfile", "k"],
         ["--color", "never"], ["--color=always"], ["-e", ""], ["--timeout", "0"]]


def test_random_plain_forms_read_as_argparse_reads_them() -> None:
    """Options before and after the command, NAME or not, in any order: whenever the fast
    path reads a line, argparse reads the same (and refuses nothing it reads)."""
    rng = random.Random(9)
    read = 0
    for _ in range(600):
        before = list(itertools.chain(*rng.sample(WORDS, rng.randint(0, 3))))
        after = list(itertools.chain(*rng.sample(WORDS, rng.randint(0, 3))))
        name = rng.choice([[], ["web"], ["a:*"]])
        position = rng.randint(0, len(after))
        argv = [*before, rng.choice(["status", "list"]), *after[:position], *name,
                *after[position:]]
        got = fast_vars(argv)
        if got is not None:
            read += 1
            assert got == argparse_vars(argv), argv
    assert read > 300


def test_a_refused_form_is_argparse_s_to_judge() -> None:
    """A form handed over may be an error: argparse says so (exit 2), not the fast path."""
    with pytest.raises(UsageError, match="unrecognized arguments: b"):
        argparse_vars(["status", "a", "b"])


def test_the_fast_table_agrees_with_the_command_table() -> None:
    for name, handler in fast.COMMANDS.items():
        command = COMMANDS[name]
        assert command.handler == f"ringleader.cli.console:{handler}"
        assert command.client and not command.slow
    flags = {flag: option.dest for option in arguments.GLOBAL_OPTIONS for flag in option.flags}
    assert flags == {**fast.VALUE_OPTIONS, **fast.FLAGS}
    assert fast.COLOR_CHOICES == arguments.COLOR_CHOICES
    assert fast.MAX_TIMEOUT == arguments.MAX_TIMEOUT


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "1e10", "x", ""])
def test_a_timeout_that_no_socket_takes_is_a_usage_error(value: str) -> None:
    """It used to reach the socket and end in a traceback (ValueError, OverflowError)."""
    with pytest.raises(UsageError, match=r"argument --timeout: (expected 0 to|invalid float)"):
        argparse_vars(["status", f"--timeout={value}"])
    assert argparse_vars(["status", "--timeout", "0"])["timeout"] == 0.0
