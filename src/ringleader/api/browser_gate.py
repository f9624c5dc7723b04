"""Which requests are a browser's, and their checks before any handler runs (the
transport calls them in place of the authenticator, ``api.http.Connection``).

A browser sends its cookie with every request to our origin, whoever made the page that
sends it, so a request that a cookie authenticates must also prove it comes from the
dashboard's own page (``ringleader.dashboard.guard``): Host on the listener's allowlist,
fetch metadata, Origin, a POST with a JSON body, and the session's CSRF header.

- On the loopback listener (``ringleader dashboard``) every request is a browser's: it
  takes no bearer token and no unix credentials, only cookies and one-time tokens.
- On the TLS listener, a request without an Authorization header is a browser's when it
  looks like one (fetch metadata, Origin or a Cookie, or a page path); a console's
  request is checked by the authenticator as before. A client certificate does not make
  a browser's request a console's: browsers present certificates on their own, as they
  send cookies, so a page of another site could act with it.

The dashboard's modules are imported at the first browser request, not before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, final

from ringleader.api.messages import ANONYMOUS, AuthError, Identity, Peer

if TYPE_CHECKING:
    from ringleader.dashboard.guard import Origins
    from ringleader.dashboard.session import Session, Sessions

__all__ = ["Gate", "is_public"]

_BROWSER_MARKS = ("sec-fetch-site", "origin", "cookie")
PAGE_PREFIX = "/ui"
SESSION_PATH = "/v1/session"


def is_public(method: str, path: str) -> bool:
    """What a browser may ask without a session: the page and its assets (they hold no
    data), whether it has a session, and the exchange of a token for one."""
    if path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/"):
        return True
    return path == SESSION_PATH and method in ("GET", "HEAD", "POST")


@final
class Gate:
    """The browser checks of one listener: its kind, port and host names, and the
    controller's sessions (made on first use)."""

    def __init__(self, kind: Literal["loopback", "tls"], port: int, hosts: list[str],
                 sessions: Callable[[], Sessions]) -> None:
        self.kind = kind
        self.port = port
        self.hosts = hosts
        self._sessions = sessions
        self._origins: Origins | None = None

    @property
    def scheme(self) -> Literal["http", "https"]:
        return "http" if self.kind == "loopback" else "https"

    @property
    def cookie(self) -> str:
        from ringleader.dashboard.session import cookie_name

        return cookie_name(self.port)

    @property
    def origins(self) -> Origins:
        if self._origins is None:
            from ringleader.dashboard.guard import Origins

            self._origins = Origins.for_names(self.scheme, self.hosts, self.port)
        return self._origins

    def is_browser(self, peer: Peer, path: str, headers: Mapping[str, str]) -> bool:
        if self.kind == "loopback":
            return True
        if "authorization" in headers:
            return False
        return any(mark in headers for mark in _BROWSER_MARKS) or is_public("GET", path)

    def admit(self, method: str, path: str,
              headers: Mapping[str, str]) -> tuple[Identity, Session | None]:
        """The session's identity, ANONYMOUS for a public path without one, or AuthError
        (with the status of the refusal: 400, 401, 403 or 405)."""
        from ringleader.dashboard.guard import check_browser, check_csrf
        from ringleader.dashboard.session import SessionError, read_cookie

        if not self.hosts:
            raise AuthError("forbidden", "this listener serves no dashboard: set "
                            "[ringleader.tcp] dashboard_hosts", status=403)
        refusal = check_browser(method, headers, self.origins,
                                page=path in (PAGE_PREFIX, PAGE_PREFIX + "/"))
        if refusal is not None:
            raise AuthError(refusal.code, refusal.detail, status=refusal.status)
        session = None
        value = read_cookie(headers.get("cookie"), self.cookie)
        if value is not None:
            try:
                session = self._sessions().verify(value)
            except SessionError:
                session = None  # as if absent: the page asks for a sign-in
        if is_public(method, path):  # the exchange needs no CSRF header: it has no session
            return (ANONYMOUS if session is None else
                    Identity(session.name, session.role)), session
        if session is None:
            raise AuthError("unauthorized", "sign in first (no valid session cookie: "
                            "sessions end on sign-out, expiry, or a controller restart)",
                            status=401)
        refusal = check_csrf(method, headers, session.csrf)
        if refusal is not None:
            raise AuthError(refusal.code, refusal.detail, status=refusal.status)
        return Identity(session.name, session.role), session
