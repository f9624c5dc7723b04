"""The one way a request body becomes data: strict JSON, parsed once.

`parse_json` accepts only what every reader of the body would read the same way: valid
UTF-8 (no lone surrogates), one value, objects without duplicate keys (which of two
``"count"`` did the client mean?), nested no deeper than `MAX_DEPTH`. Every failure is a
`BodyError` with a one-line detail, never a `RecursionError`, `UnicodeDecodeError` or a
crash. `convert` then checks the parsed value against a request Struct. The audit log
summarises the same parsed value, so a body is never parsed twice nor by two parsers that
might disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import msgspec

__all__ = ["MAX_DEPTH", "BodyError", "convert", "parse_json"]

# Far deeper than any request of the API (options -> hooks -> table -> list), far below
# the interpreter's recursion limit.
MAX_DEPTH: Final = 32
_TOO_DEEP: Final = f"malformed JSON body: arrays and objects nested deeper than {MAX_DEPTH}"
_decode = msgspec.json.Decoder().decode
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKETS: Final = bytes.maketrans(b"[]{}", b"()()")


class BodyError(ValueError):
    """The body is not acceptable JSON, or not what the operation takes."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _too_deep(body: bytes) -> bool:
    """Whether arrays and objects nest deeper than MAX_DEPTH in *body*, which must be valid
    JSON. With the strings taken out (possessive: linear), only brackets are left; each
    pass removes the innermost pairs, so a depth of d is gone after d passes (C speed)."""
    brackets = _STRING.sub(b"", body).translate(_BRACKETS, delete=_NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"()", b"")
    return bool(brackets)


def parse_json(body: bytes) -> Any:
    """The JSON value of *body*, or `BodyError` saying what is wrong with it."""
    try:
        data = _decode(body)
    except msgspec.DecodeError as exc:
        if "utf-8" in str(exc).lower():  # msgspec >= 0.23 checks UTF-8 itself
            raise BodyError("malformed JSON body: invalid UTF-8") from None
        raise BodyError(f"malformed JSON body: {exc}") from None
    except RecursionError:  # msgspec gives up at the interpreter's recursion limit
        raise BodyError(_TOO_DEEP) from None
    except UnicodeDecodeError as exc:  # msgspec checks keys' UTF-8 with the codec
        raise BodyError(f"malformed JSON body: invalid UTF-8 ({exc.reason})") from None
    if _too_deep(body):
        raise BodyError(_TOO_DEEP)  # deep values would strain every later recursive step
    if b"{" in body:  # msgspec keeps the last of duplicate keys silently: look for them
        try:
            json.loads(body, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as exc:
            raise BodyError(f"malformed JSON body: the key {exc.key!r} appears more than "
                            "once in one object") from None
        except (RecursionError, ValueError) as exc:  # cannot happen after msgspec's parse
            raise BodyError(f"malformed JSON body: {exc}") from None
    return data


def convert(data: Any, kind: type) -> Any:
    """*data* (from `parse_json`) as the request Struct *kind*."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise BodyError(f"invalid request body: {exc}") from None
