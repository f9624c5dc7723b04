"""One-time tokens, signed session cookies, logout and the cookie on the wire, with a fake
clock and a counting random source."""

from __future__ import annotations

import itertools

import pytest

from ringleader.dashboard.session import (
    ONE_TIME_PREFIX,
    SessionError,
    Sessions,
    clear_cookie,
    cookie_name,
    equal,
    read_cookie,
    set_cookie,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    return Sessions(lifetime=3600, idle_timeout=600, token_ttl=60, clock=clock)


def test_a_one_time_token_opens_one_session(sessions: Sessions) -> None:
    token = sessions.issue_token("operate", "uid:1000(alice)")
    assert token.startswith(ONE_TIME_PREFIX) and len(token) > 40
    session = sessions.exchange(token)
    assert (session.role, session.name) == ("operate", "session:uid:1000(alice)")
    with pytest.raises(SessionError, match="invalid one-time token"):
        sessions.exchange(token)  # a second use


def test_a_one_time_token_expires(sessions: Sessions, clock: Clock) -> None:
    token = sessions.issue_token("read", "alice")
    clock.now += 61
    with pytest.raises(SessionError, match="expired"):
        sessions.exchange(token)
    with pytest.raises(SessionError, match="invalid"):
        sessions.exchange(token)  # and it is gone


@pytest.mark.parametrize("token", ["", "rlo_", "rl_x", "rlo_" + "A" * 43, "é" * 50])
def test_unknown_tokens_are_refused(sessions: Sessions, token: str) -> None:
    sessions.issue_token("admin", "alice")
    with pytest.raises(SessionError, match="invalid one-time token"):
        sessions.exchange(token)


def test_pending_tokens_are_bounded(clock: Clock) -> None:
    sessions = Sessions(max_tokens=3, clock=clock)
    tokens = [sessions.issue_token("read", "a") for _ in range(4)]
    with pytest.raises(SessionError):
        sessions.exchange(tokens[0])  # the oldest was dropped
    for token in tokens[1:]:
        sessions.exchange(token)


def test_unknown_roles_are_a_programming_error(sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="unknown role 'root'"):
        sessions.issue_token("root", "alice")
    with pytest.raises(ValueError):
        sessions.open("superuser", "alice")


def test_the_cookie_names_its_session(sessions: Sessions) -> None:
    session = sessions.open("admin", "alice")
    value = sessions.cookie_value(session)
    sid, role, expires, mac = value.split(".")
    assert (sid, role, int(expires)) == (session.sid, "admin", 1000 + 3600)
    assert len(mac) == 43  # 32 bytes of MAC, base64url
    assert sessions.verify(value) == session
    assert len(session.csrf) == 43 and session.csrf != session.sid


@pytest.mark.parametrize("tamper", [
    lambda v: v.replace(".admin.", ".read."),  # the role changed: the MAC no longer fits
    lambda v: v.replace(".operate.", ".admin."),
    lambda v: ".".join([*v.split(".")[:2], "99999999", v.split(".")[3]]),  # expiry pushed
    lambda v: "x" + v[1:],  # another session id
    lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # the MAC
    lambda v: v.rsplit(".", 1)[0],  # no MAC
    lambda v: v + ".extra",
    lambda v: "",
    lambda v: "a.b.c.d",
    lambda v: v * 3,  # oversized
])
def test_tampered_cookies_are_refused(sessions: Sessions, tamper) -> None:
    admin = sessions.cookie_value(sessions.open("admin", "alice"))
    operate = sessions.cookie_value(sessions.open("operate", "bob"))
    for value in (admin, operate):
        forged = tamper(value)
        if forged == value:
            continue
        with pytest.raises(SessionError):
            sessions.verify(forged)


def test_another_controllers_cookie_is_refused(clock: Clock) -> None:
    """The key is drawn per Sessions (per controller run): a restart ends every session."""
    first, second = Sessions(clock=clock), Sessions(clock=clock)
    value = first.cookie_value(first.open("admin", "alice"))
    with pytest.raises(SessionError, match="invalid session cookie"):
        second.verify(value)


def test_sessions_expire(sessions: Sessions, clock: Clock) -> None:
    value = sessions.cookie_value(sessions.open("read", "alice"))
    for _ in range(6):  # used every 599 s: never idle, but the lifetime ends it
        clock.now += 599
        sessions.verify(value)
    clock.now += 599
    with pytest.raises(SessionError, match="session expired"):
        sessions.verify(value)
    assert len(sessions) == 0


def test_idle_sessions_close(sessions: Sessions, clock: Clock) -> None:
    value = sessions.cookie_value(sessions.open("read", "alice"))
    clock.now += 600
    with pytest.raises(SessionError, match="without a request"):
        sessions.verify(value)
    with pytest.raises(SessionError, match="closed"):
        sessions.verify(value)


def test_logout_ends_the_session_at_once(sessions: Sessions) -> None:
    session = sessions.open("admin", "alice")
    other = sessions.open("admin", "alice")
    value = sessions.cookie_value(session)
    sessions.close(session.sid)
    with pytest.raises(SessionError, match="closed"):
        sessions.verify(value)
    assert sessions.verify(sessions.cookie_value(other)) == other
    sessions.close(session.sid)  # twice: harmless


def test_open_sessions_are_bounded_least_recently_used_first(clock: Clock) -> None:
    sessions = Sessions(max_sessions=2, clock=clock)
    a, b = sessions.open("read", "a"), sessions.open("read", "b")
    sessions.verify(sessions.cookie_value(a))  # a is now the most recently used
    c = sessions.open("read", "c")
    assert len(sessions) == 2
    sessions.verify(sessions.cookie_value(a))
    sessions.verify(sessions.cookie_value(c))
    with pytest.raises(SessionError, match="closed"):
        sessions.verify(sessions.cookie_value(b))


def test_random_source_and_ids(clock: Clock) -> None:
    counter = itertools.count()

    def fake_random(n: int) -> bytes:
        return bytes([next(counter) % 256]) * n

    sessions = Sessions(clock=clock, random_bytes=fake_random)
    one, two = sessions.open("read", "a"), sessions.open("read", "a")
    assert one.sid != two.sid and one.csrf != two.csrf


def test_the_set_cookie_header() -> None:
    header = set_cookie("__Host-ringleader-8443", "v.a.l.ue", 3600)
    assert header == ("__Host-ringleader-8443=v.a.l.ue; Path=/; Max-Age=3600; HttpOnly; "
                      "SameSite=Strict; Secure")
    plain = set_cookie("ringleader-8443", "v", 10, secure=False)
    assert "Secure" not in plain and "HttpOnly" in plain and "SameSite=Strict" in plain
    assert clear_cookie("__Host-ringleader-1") == ("__Host-ringleader-1=; Path=/; Max-Age=0; "
                                                   "HttpOnly; SameSite=Strict; Secure")
    assert set_cookie("n", "v", -5).count("Max-Age=0") == 1


def test_cookie_names_carry_the_port() -> None:
    assert cookie_name(8443) == "__Host-ringleader-8443"
    assert cookie_name(8443, secure=False) == "ringleader-8443"  # __Host- needs Secure


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("", None),
    ("a=1; rl=abc", "abc"),
    ("rl=abc;a=1", "abc"),
    ("  rl = abc ", None),  # not the name: cookie names are exact
    ("rl=", ""),
    ("rlx=1; xrl=2", None),
    ("rl=one; rl=two", None),  # ambiguous: one of them may have been planted
    ("garbage; rl=v=w", "v=w"),
])
def test_read_cookie(header: str | None, expected: str | None) -> None:
    assert read_cookie(header, "rl") == expected


def test_equal_is_plain_equality() -> None:
    assert equal("abc", "abc") and equal(b"abc", "abc")
    assert not equal("abc", "abd") and not equal("abc", "ab")
    assert not equal("é", "e")
