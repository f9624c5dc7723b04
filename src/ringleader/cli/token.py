"""`ringleader token`: make a token for the TLS listener (printed once, with the config
entry that stores only its hash), or hash one."""

from __future__ import annotations

import argparse
import sys

from ringleader.cli.common import EXIT_OK, UsageError


def toml_string(text: str) -> str:
    """`text` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def token_entry(name: str, role: str, digest: str) -> str:
    """The `[[ringleader.tokens]]` entry; UsageError for a name the config would refuse
    (checked by the config's own model, so the printed entry always loads)."""
    import tomllib

    import msgspec

    from ringleader.config.model import TokenConfig

    entry = (f"[[ringleader.tokens]]\nname = {toml_string(name)}\nrole = {toml_string(role)}\n"
             f"hash = {toml_string(digest)}\n")
    table = tomllib.loads(entry)["ringleader"]["tokens"][0]
    try:
        msgspec.convert(table, TokenConfig)
    except msgspec.ValidationError:
        raise UsageError(f"ringleader token new: --name {name!r}: a token name is 1 to 128 "
                         "letters, digits, '_', '.', '@' or '-'") from None
    return entry


def cmd_token(args: argparse.Namespace) -> int:
    from ringleader.api.auth import hash_token, new_token

    if args.action == "hash":
        token = args.token if args.token is not None else sys.stdin.readline().strip()
        if not token:
            raise UsageError("ringleader token hash: no token given")
        print(hash_token(token))
        return EXIT_OK
    token = new_token()
    entry = token_entry(args.name, args.role, hash_token(token))
    print(f"token (give it to the client; it is not stored): {token}", file=sys.stderr)
    print(entry, end="")
    return EXIT_OK
