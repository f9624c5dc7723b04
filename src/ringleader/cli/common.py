"""What the commands share: exit codes, usage errors, finding and loading a config file,
finding the controller's endpoint and a client for it.

On the console's fast path: stdlib and the API client only. The config package is imported
only when a config file is actually loaded (``run``, ``up``, ``check``); ``-c CONFIG`` reads
just the endpoint (``config.endpoint``: stdlib only, no msgspec).
"""

from __future__ import annotations

import os
import sys

from ringleader.api.client import DEFAULT_ENDPOINT, Client, EndpointError

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from typing import Any, TextIO

    from ringleader.config.model import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# `status`: a watcher is failed, flapping or backing off (supervisorctl says 3, our "unreachable")
EXIT_DEGRADED = 4
# The names looked for in the current directory (config.places.LOCAL_NAMES: not imported
# here, the help texts need it on every command's start).
DEFAULT_CONFIGS = ("ringleader.toml", "ringleader.ini", "circus.ini", "supervisord.conf",
                   "Procfile")


class UsageError(Exception):
    """A mistake on the command line: one line on stderr, exit code 2."""


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def json_error(code: str, detail: str, exit_code: int) -> None:
    """With --json, an error is also one JSON object on stdout, where a script reads."""
    import json

    print(json.dumps({"error": code, "detail": detail, "exit_code": exit_code}), flush=True)


def suggestion(word: str, choices: Iterable[str], synonyms: dict[str, str] | None = None,
               ) -> str | None:
    """What a mistyped `word` probably meant, if anything is close enough."""
    best = (synonyms or {}).get(word.lower())
    if best is None:
        ranked = sorted((edit_distance(word.lower(), c), abs(len(c) - len(word)), c)
                        for c in choices)
        if ranked and ranked[0][0] <= max(1, len(word) // 3):
            best = ranked[0][2]
    return best


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours (`stauts`: 1)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]


def use_color(mode: str | None, stream: TextIO) -> bool:
    """Colour for `--color` `mode` (None: auto): always, never, or auto: $NO_COLOR (set and
    not empty) says no, else $FORCE_COLOR (the same) says yes, else whether `stream` is a
    terminal. The controller's console prefixes follow the same rules (output.sinks)."""
    if mode in ("always", "never"):
        return mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def find_config(required: bool = True) -> str | None:
    """The config file to use when none is named (config.places: $RINGLEADER_CONFIG, here,
    the user's folder, /etc/ringleader). Not found: a UsageError listing where it looked,
    or None when not `required`."""
    from ringleader.config.places import NoConfig, discover, not_found

    try:
        path = discover()
    except NoConfig as exc:
        raise UsageError(str(exc)) from None
    if path is None and required:
        raise UsageError(not_found())
    return path


def load_config_file(path: str, args: argparse.Namespace | None = None) -> Config:
    """The config in `path` (`args`: the Procfile options of run, up, check and convert).
    Raises ConfigError (every problem) for a bad one, UsageError when it cannot be read."""
    from ringleader.config.load import load_config

    try:
        return load_config(path, **format_options(args))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


CONFIG_HELP = ("config file: TOML, circus INI, a supervisord.conf or a Procfile (by its name, "
               "or --procfile)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        import argparse  # loaded by the parser already: no start-up cost

        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return port


def add_procfile_arguments(p: argparse.ArgumentParser) -> None:
    """What foreman and honcho take for a Procfile."""
    g = p.add_argument_group("Procfile options (as foreman and honcho)")
    g.add_argument("--procfile", metavar="FILE", help="read FILE as a Procfile, whatever its "
                   "name")
    g.add_argument("-m", "--formation", metavar="FORMATION", help="how many of each process "
                   "type: web=2,worker=1 (all=N for every type; types not named run 0 times)")
    g.add_argument("--env-file", metavar="FILE", dest="env_file", help="environment file "
                   "(default: .env next to the Procfile)")
    g.add_argument("-p", "--port", type=_port, metavar="PORT", dest="port_base",
                   help="base of PORT: 5000 + 100 x the type's index + the instance's "
                   "(default 5000, or PORT in the env file)")


def config_path(args: argparse.Namespace, command: str) -> str | None:
    """CONFIG, or --procfile FILE (not both)."""
    procfile = getattr(args, "procfile", None)
    if procfile and getattr(args, "config", None):
        raise UsageError(f"ringleader {command}: give either CONFIG or --procfile, not both")
    return procfile or getattr(args, "config", None)


def format_options(args: argparse.Namespace | None) -> dict[str, Any]:
    """load_config's Procfile options from --procfile, -m/--formation, --env-file, -p."""
    if args is None:
        return {}
    options: dict[str, Any] = {}
    if getattr(args, "procfile", None):
        options["procfile"] = True
    for key in ("formation", "env_file", "port_base"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    return options


def format_argv(args: argparse.Namespace) -> list[str]:
    """The same options as command-line words (`up` hands them to `run`)."""
    words: list[str] = []
    for key, flag in (("formation", "--formation"), ("env_file", "--env-file"),
                      ("port_base", "--port")):
        if getattr(args, key, None) is not None:
            words += [flag, str(getattr(args, key))]
    return words


def config_endpoint(endpoint: str | None, source: str) -> str:
    """The loader resolves a configured endpoint against the config's directory; without one,
    the controller listens on ringleader.sock next to the config file."""
    from ringleader.config.endpoint import default_endpoint

    return endpoint or default_endpoint(source)


def endpoint_from_config(path: str) -> str:
    """The endpoint a controller run with this config listens on. -c reads only that (with
    the loader's rules, ``config.endpoint``), not the whole config."""
    from ringleader.config.endpoint import EndpointError, find_endpoint

    try:
        return find_endpoint(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except EndpointError as exc:
        raise UsageError(str(exc)) from None


def resolve_endpoint(args: argparse.Namespace) -> str:
    """-e, then -c CONFIG, then $RINGLEADER_ENDPOINT, then the endpoint of the config that
    `run` would find (find_config), then unix:ringleader.sock here."""
    if getattr(args, "endpoint", None):
        return str(args.endpoint)
    if getattr(args, "config", None):
        return endpoint_from_config(args.config)
    if os.environ.get("RINGLEADER_ENDPOINT"):
        return os.environ["RINGLEADER_ENDPOINT"]
    found = find_config(required=False)
    return _discovered_endpoint(found) if found else DEFAULT_ENDPOINT


def _discovered_endpoint(path: str) -> str:
    """The endpoint of a config found by discovery. Most name none (nor include a file
    that may): that needs no parse, so the console stays light (no loader, no msgspec)."""
    from ringleader.config.places import default_socket, is_system_config

    try:
        with open(path, "rb") as f:
            text = f.read(4 << 20).lower()
    except PermissionError:
        if is_system_config(path):  # root's, mode 0600: most name no endpoint
            return "unix:" + default_socket(path)
        raise UsageError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    native = path.endswith((".toml", ".ini"))  # a supervisord.conf says it in its own words
    if native and not any(word in text for word in (b"endpoint", b"include", b"\\u")):
        return "unix:" + default_socket(path)
    return endpoint_from_config(path)


def make_client(args: argparse.Namespace, endpoint: str, timeout: float) -> Client:
    try:
        return Client(endpoint, token=args.token or os.environ.get("RINGLEADER_TOKEN") or None,
                      cafile=args.cafile, certfile=args.certfile, keyfile=args.keyfile,
                      timeout=args.timeout or timeout)
    except EndpointError as exc:
        raise UsageError(str(exc)) from None
