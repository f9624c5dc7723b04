from __future__ import annotations

from ringleader.config.substitute import expand, expand_dollar_vars, expand_env_refs


def test_wid_both_prefixes_and_syntaxes() -> None:
    assert expand("w$(circus.wid) $(ringleader.wid) ((circus.wid))", wid=3) == "w3 3 3"


def test_env_lookup_is_case_insensitive_like_circus() -> None:
    assert expand("$(circus.env.home)/$(Circus.ENV.Home)", env={"HOME": "/h"}) == "/h//h"


def test_sockets() -> None:
    assert expand("--fd $(ringleader.sockets.web)", sockets={"web": 7}) == "--fd 7"


def test_unknown_left_unchanged() -> None:
    text = "$(circus.env.NOPE) $(circus.sockets.x) $(circus.wid) $(circus.other) $(foo.wid)"
    assert expand(text, env={}, sockets={}) == text


def test_no_reference_fast_path_returns_same_object() -> None:
    text = "plain command"
    assert expand(text, wid=1) is text


def test_load_time_keeps_wid_and_sockets() -> None:
    out = expand_env_refs("$(circus.env.X) $(circus.wid) $(circus.sockets.s)", {"X": "1"})
    assert out == "1 $(circus.wid) $(circus.sockets.s)"


def test_dollar_vars() -> None:
    env = {"PATH": "/usr/bin", "lower": "x"}
    assert expand_dollar_vars("$PATH:/bin", env) == ("/usr/bin:/bin", [])
    assert expand_dollar_vars("${lower}-$lower", env) == ("x-$lower", [])
    assert expand_dollar_vars("$MISSING", env) == ("$MISSING", ["MISSING"])
