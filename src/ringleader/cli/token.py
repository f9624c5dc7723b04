"""`ringleader token`: make a token for the TLS listener (printed once, with the config
entry that stores only its hash), or hash one."""

from __future__ import annotations

import argparse
import sys

from ringleader.cli.common import EXIT_OK, UsageError


def cmd_token(args: argparse.Namespace) -> int:
    from ringleader.api.auth import hash_token, new_token

    if args.action == "hash":
        token = args.token if args.token is not None else sys.stdin.readline().strip()
        if not token:
            raise UsageError("ringleader token hash: no token given")
        print(hash_token(token))
        return EXIT_OK
    token = new_token()
    print(f"token (give it to the client; it is not stored): {token}", file=sys.stderr)
    print(f'[[ringleader.tokens]]\nname = "{args.name}"\nrole = "{args.role}"\n'
          f'hash = "{hash_token(token)}"')
    return EXIT_OK
