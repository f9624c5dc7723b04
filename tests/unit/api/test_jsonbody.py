"""parse_json / convert: strict JSON, one clear BodyError for every way a body can be bad."""

from __future__ import annotations

import pytest

from ringleader.api.jsonbody import MAX_DEPTH, BodyError, convert, parse_json
from ringleader.api.schema import CountRequest


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("body, expected", [
    (b'{"count": 2}', {"count": 2}),
    (b'[1, "x", null, true, 1.5]', [1, "x", None, True, 1.5]),
    (b'"a string"', "a string"),
    (b'{"a": {"b": 1}, "c": {"b": 2}}', {"a": {"b": 1}, "c": {"b": 2}}),  # same key, 2 objects
    (b'{"cmd": "' + b"[" * 50 + b'\\"{"}', {"cmd": "[" * 50 + '"{'}),  # strings: no nesting
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, _nested(MAX_DEPTH)),
    (b'{"\\u00e9t\\u00e9": "\xc3\xa9"}', {"\u00e9t\u00e9": "\u00e9"}),
])
def test_valid_json_is_parsed(body: bytes, expected: object) -> None:
    assert parse_json(body) == expected


@pytest.mark.parametrize("body, detail", [
    (b'{"count": 1, "count": 3}', "the key 'count' appears more than once"),
    (b'{"a": [{"x": 1, "y": 2, "x": 1}]}', "the key 'x' appears more than once"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
    (b"[" * 100_000 + b"]" * 100_000, f"nested deeper than {MAX_DEPTH}"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, f"nested deeper than {MAX_DEPTH}"),
    (b'{"\xff\xfe": 1}', "invalid UTF-8"),
    (b'{"a": "\xff"}', "invalid UTF-8"),
    (b'["\\ud800"]', "malformed JSON body"),  # a lone surrogate: not text
    (b"NaN", "malformed JSON body"),
    (b"[1] [2]", "trailing characters"),
    (b"", "malformed JSON body"),
    (b'{"a": 1e400}', "out of range"),
])
def test_bad_json_is_one_body_error(body: bytes, detail: str) -> None:
    with pytest.raises(BodyError) as info:
        parse_json(body)
    assert detail in info.value.detail
    assert "\n" not in info.value.detail


def test_convert_checks_the_request_struct() -> None:
    assert convert({"count": 3}, CountRequest) == CountRequest(count=3)
    with pytest.raises(BodyError, match=r"invalid request body: .*\$\.count"):
        convert({"count": "3"}, CountRequest)
    with pytest.raises(BodyError, match="unknown field `counts`"):
        convert({"counts": 3}, CountRequest)
