"""The capture worker: ``python producer.py text|binary BLOCKS`` writes BLOCKS x 64 KiB to stdout.

Every block starts with its own number, so a lost, repeated or reordered block changes the
sha256 of the whole. ``text`` blocks are lines of printable ASCII (what logs are made of);
``binary`` blocks hold every byte value 0-255, to check a controller passes bytes unchanged.
The bench imports :func:`expected_sha256` to know what a faithful capture hashes to.
"""

from __future__ import annotations

import hashlib
import sys

BLOCK = 64 * 1024
_TEXT = ((bytes(range(33, 127)) * 2)[:127] + b"\n") * (BLOCK // 128)
_BINARY = bytes(range(256)) * (BLOCK // 256)


def block(number: int, binary: bool) -> bytes:
    """Block ``number``: a 10-digit header then the pattern."""
    base = _BINARY if binary else _TEXT
    return b"%010d" % number + base[10:]


def expected_sha256(blocks: int, binary: bool) -> str:
    """The sha256 of everything ``producer.py`` writes for these arguments."""
    digest = hashlib.sha256()
    for number in range(blocks):
        digest.update(block(number, binary))
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    binary, blocks = argv[0] == "binary", int(argv[1])
    out = sys.stdout.buffer
    for number in range(blocks):
        out.write(block(number, binary))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
