"""dump_toml: what it writes reads back identical with tomllib, notes land next to their
target, and anything without a TOML form is refused by name."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringleader.config.dialects.toml_writer import dump_toml
from ringleader.config.dialects.translation import Note

TRICKY = [
    "", "plain", 'say "hi"', "it's", "both ' and \"", "back\\slash", "C:\\path\\to",
    "tab\there", "new\nline", "cr\rlf", "bell\x07", "del\x7f", "é ü 漢字 🙂", "#not a comment",
    "$(ringleader.wid:02d)", "%(here)s", "[watchers.x]", "a = b", "\u2028sep", "'''",
    '"""', "\\u0041",
]


def roundtrip(doc: dict[str, Any], notes: list[Note] | None = None) -> str:
    text = dump_toml(doc, notes or [])
    assert tomllib.loads(text) == doc, text
    return text


@pytest.mark.parametrize("text", TRICKY)
def test_strings_and_keys_roundtrip(text: str) -> None:
    roundtrip({"watchers": {text or "x": {"cmd": text, "env": {text or "K": text}}}})


def test_layout_follows_the_readme() -> None:
    doc = {
        "ringleader": {"endpoint": "unix:/run/rl.sock", "allowed_uids": ["nobody"]},
        "watchers": {
            "web": {
                "cmd": "python -m app", "numprocesses": 4, "graceful_timeout": 10.0,
                "env": {"APP_MODE": "production"},
                "stdout_stream": {"kind": "file", "filename": "/var/log/web.log"},
                "hooks": {"before_start": {"target": "app.hooks.check", "kind": "python"}},
            },
            "v2.api": {"cmd": "x"},
        },
        "sockets": {"web": {"host": "127.0.0.1", "port": 8080}},
    }
    text = roundtrip(doc)
    assert text.splitlines()[:3] == ["[ringleader]", 'endpoint = "unix:/run/rl.sock"',
                                     'allowed_uids = ["nobody"]']
    assert "[watchers.web.env]\nAPP_MODE = \"production\"" in text
    assert "[watchers.web.stdout_stream]" in text
    assert 'before_start = { target = "app.hooks.check", kind = "python" }' in text
    assert '[watchers."v2.api"]' in text
    assert "[watchers]" not in text  # implicit: only its sub-tables have headers
    assert "\n\n\n" not in text and not text.startswith("\n")


def test_values_of_every_kind() -> None:
    doc = {"t": {"i": -(1 << 63), "j": (1 << 63) - 1, "f": 0.1, "e": 1e300, "neg": -2.5,
                 "inf": math.inf, "ninf": -math.inf, "yes": True, "no": False,
                 "empty": [], "nested": [[1, 2], ["a"]], "mixed": [1, "a", {"k": 1}],
                 "inline_empty": {}, "deep": {"a": {"b": {"c": {"d": 1}}}}}}
    roundtrip(doc)
    assert math.isnan(tomllib.loads(dump_toml({"n": math.nan}))["n"])


def test_long_arrays_wrap() -> None:
    doc = {"w": {"events": [f"PROCESS_STATE_{i}" for i in range(20)]}}
    text = roundtrip(doc)
    assert "events = [\n    " in text


def test_arrays_of_tables() -> None:
    doc = {"ringleader": {
        "tokens": [{"name": "ci", "role": "read", "hash": "sha256:" + "0" * 64},
                   {"name": "ops", "role": "admin", "hash": "sha256:" + "1" * 64,
                    "extra": {"a": 1}}],
        "loglevel": "info"}}
    text = roundtrip(doc)
    assert text.count("[[ringleader.tokens]]") == 2
    assert text.index("loglevel") < text.index("[[ringleader.tokens]]")


@pytest.mark.parametrize("bad, fragment", [
    ({"w": {"x": None}}, "w.x: None has no TOML form"),
    ({"w": {"x": 1 << 63}}, "w.x: 9223372036854775808 does not fit"),
    ({"w": {"x": "\ud800"}}, "w.x: a lone surrogate"),
    ({"w": {"x": object()}}, "w.x: object has no TOML form"),
    ({"w": {1: "x"}}, "key 1 is not a string"),
])
def test_what_has_no_toml_form_is_refused(bad: dict[Any, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        dump_toml(bad)


def test_notes_go_next_to_their_target() -> None:
    doc = {"ringleader": {"endpoint": "unix:/x"},
           "watchers": {"web": {"cmd": "x", "env": {"A": "1"},
                                "hooks": {"after_spawn": {"target": "t"}}}}}
    notes = [
        Note("f.conf", "about the whole file"),
        Note("f.conf: [unix_http_server] chmod", "not carried over", ("ringleader", "endpoint")),
        Note("f.conf: [program:web] stdout_syslog", "dropped", ("watchers", "web", "gone")),
        Note("f.conf: [program:web] environment", "A changed", ("watchers", "web", "env", "A")),
        Note("f.conf: hooks", "inline", ("watchers", "web", "hooks", "after_spawn", "kind")),
        Note("evil\n[watchers.injected]\ncmd = 'x'", "newline\rin note", ("watchers",)),
    ]
    text = roundtrip(doc, notes)
    lines = text.splitlines()
    assert lines[0] == "# f.conf: about the whole file"
    assert lines[lines.index('endpoint = "unix:/x"') - 1] == \
        "# f.conf: [unix_http_server] chmod: not carried over"
    assert lines[lines.index("[watchers.web]") - 1] == \
        "# f.conf: [program:web] stdout_syslog: dropped"
    assert lines[lines.index('A = "1"') - 1] == \
        "# f.conf: [program:web] environment: A changed"
    assert lines[lines.index('after_spawn = { target = "t" }') - 1] == "# f.conf: hooks: inline"
    injected = [line for line in lines if "injected" in line]
    assert injected == ["# evil [watchers.injected] cmd = 'x': newline in note"]


keys = st.text(min_size=1, max_size=8)
scalars = st.one_of(st.booleans(), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
                    st.floats(allow_nan=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(keys, inner, max_size=3), max_leaves=12)
tables = st.recursive(st.dictionaries(keys, values, max_size=4),
                      lambda inner: st.dictionaries(keys, inner | values, max_size=3),
                      max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_any_document_roundtrips(doc: dict[str, Any]) -> None:
    roundtrip(doc)
