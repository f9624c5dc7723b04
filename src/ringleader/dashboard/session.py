"""Browser sessions for the dashboard: one-time tokens, signed cookies, CSRF tokens.

Pure: no I/O but the clock and the random source it is given. The flow:

1. ``ringleader dashboard`` asks the controller for a one-time token (`issue_token`) and
   prints ``http://127.0.0.1:PORT/ui/#token=TOKEN``. A fragment is never sent by browsers:
   the token reaches no server log, no ``Referer``, no proxy.
2. The page POSTs the token to ``/v1/session``; `exchange` consumes it (a second use fails)
   and opens a `Session`. On the TLS listener the login form's API token, checked by the
   API's authenticator, opens one through `open` instead.
3. That answer sets the cookie (`set_cookie`): HttpOnly, SameSite=Strict, Path=/, Secure
   with the ``__Host-`` prefix. Its value is ``sid.role.expires.mac``: a random session
   id, the role and the expiry, MACed with a key drawn per controller (so a restart ends
   every session). The JSON body carries the session's CSRF token, which the page keeps
   in memory only (never in storage or a URL).
4. Every request with the cookie: `verify` checks the MAC (constant time), the expiry and
   that the session is still open (not logged out, not idle too long), and returns the
   `Session`, whose role the request gets and whose ``csrf`` its CSRF header must match.
5. Logout: `close`, and a `clear_cookie` header.

MACs and token digests are keyed BLAKE2b (RFC 7693's keyed mode is a MAC) from CPython's
``_blake2``, and compares are ``_operator._compare_digest`` (what ``hmac.compare_digest``
is): ``hmac``, ``hashlib`` and ``secrets`` would map libcrypto, about 4 MB, into the
controller.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import final

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter without it
    from hashlib import blake2b
from _operator import _compare_digest

ROLES = ("read", "operate", "admin")
ONE_TIME_PREFIX = "rlo_"  # tells a one-time token from an API token (rl_) at a glance
_KEY_BYTES = 32
_ID_BYTES = 18  # 144 bits: 24 characters of base64url
_SECRET_BYTES = 32
_MAX_COOKIE_VALUE = 200  # a well-formed value is about 100 characters

Clock = Callable[[], float]
RandomBytes = Callable[[int], bytes]


class SessionError(Exception):
    """A token or cookie was refused; `detail` says why, in one line for the user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@final
@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    role: str
    name: str  # who, for the audit log: "session:uid:1000(alice)"
    csrf: str  # what the X-Ringleader-CSRF header of a state change must carry
    expires: float  # on the sessions' clock

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires - now))


@dataclass(slots=True)
class _Open:
    session: Session
    last_used: float


@dataclass(frozen=True, slots=True)
class _Pending:
    role: str
    name: str
    expires: float


def equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality (for secrets: CSRF tokens, MACs)."""
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return _compare_digest(a, b)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@final
class Sessions:
    """The open sessions and pending one-time tokens of one controller.

    *lifetime* bounds a session from its start, *idle_timeout* from its last request;
    *token_ttl* bounds a one-time token. Both tables are bounded: past *max_sessions*
    the least recently used session is closed, past *max_tokens* the oldest token is
    dropped, so no client can make them grow without limit.
    """

    def __init__(self, *, lifetime: float = 12 * 3600, idle_timeout: float = 3600,
                 token_ttl: float = 300, max_sessions: int = 1000, max_tokens: int = 100,
                 clock: Clock = time.monotonic, random_bytes: RandomBytes = os.urandom,
                 ) -> None:
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.token_ttl = token_ttl
        self._max_sessions = max_sessions
        self._max_tokens = max_tokens
        self._clock = clock
        self._random = random_bytes
        self._key = random_bytes(_KEY_BYTES)
        self._open: dict[str, _Open] = {}  # insertion order = least recently used first
        self._pending: dict[bytes, _Pending] = {}  # token digest -> what it opens

    def __len__(self) -> int:
        return len(self._open)

    # -- one-time tokens ----------------------------------------------------------------

    def issue_token(self, role: str, name: str) -> str:
        """A token that opens one session with *role* (the caller's own role or lower,
        which the caller checks), for *token_ttl* seconds."""
        _check_role(role)
        now = self._clock()
        self._drop_expired_tokens(now)
        while len(self._pending) >= self._max_tokens:
            del self._pending[next(iter(self._pending))]
        token = ONE_TIME_PREFIX + _b64(self._random(_SECRET_BYTES))
        self._pending[self._token_digest(token)] = _Pending(role, name, now + self.token_ttl)
        return token

    def exchange(self, token: str) -> Session:
        """Consume a one-time token and open its session."""
        # The lookup is by a keyed digest: its timing says nothing about the token.
        pending = self._pending.pop(self._token_digest(token), None)
        if pending is None:
            raise SessionError("invalid one-time token (each works once: run "
                               "`ringleader dashboard` for a new one)")
        if pending.expires <= self._clock():
            raise SessionError("this one-time token has expired (run `ringleader "
                               "dashboard` for a new one)")
        return self.open(pending.role, pending.name)

    def _token_digest(self, token: str) -> bytes:
        return blake2b(token.encode("utf-8", "replace"), key=self._key, person=b"rl-token",
                       digest_size=32).digest()

    def _drop_expired_tokens(self, now: float) -> None:
        for digest in [d for d, p in self._pending.items() if p.expires <= now]:
            del self._pending[digest]

    # -- sessions -----------------------------------------------------------------------

    def open(self, role: str, name: str) -> Session:
        """A new session for an identity the caller has authenticated."""
        _check_role(role)
        now = self._clock()
        self._drop_stale(now)
        while len(self._open) >= self._max_sessions:
            del self._open[next(iter(self._open))]
        session = Session(sid=_b64(self._random(_ID_BYTES)), role=role,
                          name=f"session:{name}", csrf=_b64(self._random(_SECRET_BYTES)),
                          expires=float(int(now + self.lifetime)))
        self._open[session.sid] = _Open(session, now)
        return session

    def cookie_value(self, session: Session) -> str:
        payload = f"{session.sid}.{session.role}.{int(session.expires)}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, value: str) -> Session:
        """The open session a cookie value names, or SessionError."""
        if len(value) > _MAX_COOKIE_VALUE or value.count(".") != 3:
            raise SessionError("malformed session cookie")
        payload, _, mac = value.rpartition(".")
        if not equal(mac, self._mac(payload)):
            raise SessionError("invalid session cookie (sessions end when the "
                               "controller restarts)")
        sid, role, expires = payload.split(".")
        now = self._clock()
        if int(expires) <= now:  # a MACed value: int() cannot fail on what we wrote
            self._open.pop(sid, None)
            raise SessionError("session expired")
        entry = self._open.get(sid)
        if entry is None:
            raise SessionError("session closed (logged out or replaced)")
        if entry.last_used + self.idle_timeout <= now:
            del self._open[sid]
            raise SessionError(f"session closed after {self.idle_timeout:g} s without "
                               "a request")
        if entry.session.role != role:  # cannot happen without the key: defence in depth
            raise SessionError("invalid session cookie")
        entry.last_used = now
        self._open[sid] = self._open.pop(sid)  # most recently used last
        return entry.session

    def now(self) -> float:
        """The sessions' clock (what `Session.expires_in` takes)."""
        return self._clock()

    def is_open(self, sid: str) -> bool:
        """Whether a session is still open, without counting as a request (a live stream
        asks this: it does not keep an idle session alive)."""
        entry = self._open.get(sid)
        now = self._clock()
        return entry is not None and entry.session.expires > now \
            and entry.last_used + self.idle_timeout > now

    def close(self, sid: str) -> None:
        """Log out: the cookie stops working at once, wherever it was copied."""
        self._open.pop(sid, None)

    def _mac(self, payload: str) -> str:
        return _b64(blake2b(payload.encode("ascii", "replace"), key=self._key,
                            person=b"rl-cookie", digest_size=32).digest())

    def _drop_stale(self, now: float) -> None:
        stale = [sid for sid, e in self._open.items()
                 if e.session.expires <= now or e.last_used + self.idle_timeout <= now]
        for sid in stale:
            del self._open[sid]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")


# -- the cookie on the wire --------------------------------------------------------------

def cookie_name(port: int, *, secure: bool = True) -> str:
    """The session cookie's name on a listener. Cookies ignore ports, so the port is in
    the name: two controllers' dashboards on one host do not overwrite each other's.
    ``__Host-`` makes the browser refuse it unless Secure, host-only and Path=/."""
    return f"__Host-ringleader-{port}" if secure else f"ringleader-{port}"


def set_cookie(name: str, value: str, max_age: int, *, secure: bool = True) -> str:
    """A Set-Cookie header value. *secure* is right on TLS and on http://127.0.0.1 too:
    browsers treat loopback as a secure context and keep Secure cookies from it."""
    attributes = [f"{name}={value}", "Path=/", f"Max-Age={max(0, max_age)}", "HttpOnly",
                  "SameSite=Strict"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def clear_cookie(name: str, *, secure: bool = True) -> str:
    return set_cookie(name, "", 0, secure=secure)


def read_cookie(header: str | None, name: str) -> str | None:
    """The value of cookie *name* in a Cookie header. Two cookies of that name make it
    ambiguous (one could have been planted): None, as if absent."""
    if not header:
        return None
    found: str | None = None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            if found is not None:
                return None
            found = value.strip()
    return found
