"""``ringleader convert FILE``: the native TOML of a circus INI file, a supervisord.conf or
a Procfile, with a comment at each thing that was dropped or changed meaning."""

from __future__ import annotations

import argparse
import sys

from ringleader.cli.common import EXIT_OK, EXIT_USAGE, UsageError, config_path, format_options


def cmd_convert(args: argparse.Namespace) -> int:
    from ringleader.config.convert import convert_file
    from ringleader.config.dialects.toml_writer import dump_toml
    from ringleader.errors import ConfigError

    path = config_path(args, "convert")
    if path is None:
        raise UsageError("ringleader convert: expected CONFIG (or --procfile FILE)")
    try:
        translation = convert_file(path, **format_options(args))
        text = dump_toml(translation.document, translation.notes)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # dump_toml: a value TOML cannot hold
        print(f"error: {path}: cannot be written as TOML: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(text)
    return EXIT_OK
