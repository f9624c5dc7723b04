"""The one table of commands: every row names a handler that exists, the parser and the
shell completion are built from it."""

from __future__ import annotations

import inspect
from importlib import import_module

import pytest

from ringleader.cli.commands import COMMANDS, TABLE, build_parser, named_command
from ringleader.cli.completion import script


@pytest.mark.parametrize("command", TABLE, ids=lambda c: c.name)
def test_every_handler_exists_and_takes_what_the_table_says(command) -> None:  # type: ignore[no-untyped-def]
    module, _, name = command.handler.partition(":")
    handler = getattr(import_module(module), name)
    params = list(inspect.signature(handler).parameters)
    assert params == (["args", "client"] if command.client else ["args"])


def test_names_are_unique_and_parsed_alone() -> None:
    assert len(COMMANDS) == len(TABLE)
    assert named_command(["--json", "status", "web"]) == "status"
    # the values of global options are not the command
    assert named_command(["-e", "unix:/x", "--timeout", "3", "status"]) == "status"
    assert named_command(["--endpoint=unix:/x", "-c", "r.toml", "list"]) == "list"
    assert named_command(["nonsense"]) == "nonsense"  # main suggests the nearest one
    assert named_command(["--json"]) is None
    args = build_parser("incr").parse_args(["incr", "web", "2", "-e", "unix:/x"])
    assert (args.command, args.name, args.count, args.endpoint) == ("incr", "web", 2, "unix:/x")


def test_commands_that_wait_for_processes_are_marked_slow() -> None:
    slow = {c.name for c in TABLE if c.slow}
    assert slow == {"start", "stop", "restart", "reload", "reloadconfig", "add", "rm", "incr",
                    "decr", "set", "quit", "kill"}
    assert all(c.client for c in TABLE if c.slow)


def test_completion_offers_every_command() -> None:
    bash = script("bash", build_parser())
    for command in TABLE:
        assert command.name in bash
