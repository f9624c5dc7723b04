"""The application of a listener that serves the dashboard: the pages, the session routes
and the security headers of every answer to a browser, around the control app.

Requests the gate (``api.browser_gate``) did not take for a browser's (a console's on the
TLS listener) go to the control app untouched. A browser's:

- ``GET /ui`` (308 to ``/ui/``), ``GET /ui/`` (the page: a strict CSP, never cached) and
  ``GET /ui/assets/NAME.HASH.EXT`` (cached for ever, gzipped when the browser takes it);
- ``GET /v1/session``: the session (and its CSRF token) or ``null``; ``POST /v1/session``
  ``{"token": ...}``: a one-time token (or, on the TLS listener, an API token) exchanged
  for a session cookie; ``POST /v1/session/logout``. Failed exchanges are counted per
  address (429 after 5 a minute); a valid token is never refused for them. The audit log
  records sign-ins and sign-outs, never the token;
- anything else, with the session's identity, to the control app (the roles apply).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, final

import msgspec

from ringleader.api.auth import Authenticator
from ringleader.api.browser_gate import PAGE_PREFIX, SESSION_PATH, Gate
from ringleader.api.dashboard import Dashboard
from ringleader.api.jsonbody import BodyError, parse_json
from ringleader.api.messages import ANONYMOUS, App, AuthError, Identity, Request, Response, Stream

if TYPE_CHECKING:
    from ringleader.dashboard.session import Session

__all__ = ["BrowserApp"]

_encode = msgspec.json.Encoder().encode
_LOGOUT = SESSION_PATH + "/logout"
_MAX_TOKEN = 512


@final
class BrowserApp:
    def __init__(self, control: App, dashboard: Dashboard, gate: Gate,
                 authenticator: Authenticator) -> None:
        self._control = control
        self._dashboard = dashboard
        self._gate = gate
        self._auth = authenticator

    def error(self, status: int, code: str, detail: str) -> Response:
        response = self._control.error(status, code, detail)
        if self._dashboard.loaded:  # a browser may be asking: its answers are never stored
            from ringleader.dashboard.guard import API_HEADERS

            response.headers = [*response.headers, *API_HEADERS]
        return response

    async def handle(self, request: Request) -> Response | Stream:
        if not request.browser:
            return await self._control.handle(request)
        from ringleader.dashboard.guard import API_HEADERS

        path, method = request.path, request.method
        if path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/"):
            return await self._page(request)
        answer: Response | Stream
        if path == SESSION_PATH and method == "GET":
            answer = self._session_answer(request.session)
        elif path == SESSION_PATH and method == "POST":
            answer = self._exchange(request)
        elif path == _LOGOUT and method == "POST":
            answer = self._logout(request)
        elif path in (SESSION_PATH, _LOGOUT):
            answer = self._json(405, {"error": "method_not_allowed", "detail":
                                      f"{method} not allowed on {path}"})
        elif request.identity is ANONYMOUS:  # the gate lets none through: in depth
            answer = self._json(401, {"error": "unauthorized", "detail": "sign in first"})
        else:
            answer = await self._control.handle(request)
        answer.headers = [*answer.headers, *API_HEADERS]
        return answer

    # -- the page and its files ---------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        from ringleader.dashboard.guard import API_HEADERS, ASSET_HEADERS, PAGE_HEADERS

        if request.method != "GET":
            response = self._json(405, {"error": "method_not_allowed",
                                        "detail": f"{request.method} not allowed on a page"})
        elif request.path == PAGE_PREFIX:
            response = Response(308, b"", "text/plain", [("location", PAGE_PREFIX + "/")])
        else:
            asset = (await self._dashboard.assets()).lookup(request.path)
            if asset is None:
                response = self._json(404, {"error": "not_found",
                                            "detail": f"no such page: {request.path}"})
            else:
                body, encoding = asset.encoded(request.headers.get("accept-encoding"))
                headers = [*(ASSET_HEADERS if asset.immutable else PAGE_HEADERS),
                           ("vary", "accept-encoding")]
                if encoding is not None:
                    headers.append(("content-encoding", encoding))
                return Response(200, body, asset.content_type, headers)
        response.headers = [*response.headers, *API_HEADERS]
        return response

    # -- sessions -----------------------------------------------------------------------

    def _session_answer(self, session: Session | None) -> Response:
        return self._json(200, {"session": None if session is None else {
            "role": session.role, "name": session.name, "csrf": session.csrf,
            "expires_in": session.expires_in(self._dashboard.sessions.now())}})

    def _exchange(self, request: Request) -> Response:
        from ringleader.dashboard.session import ONE_TIME_PREFIX, SessionError, set_cookie

        try:
            data = parse_json(request.body or b"{}")
        except BodyError as exc:
            return self._json(400, {"error": "bad_request", "detail": exc.detail})
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip() or len(token) > _MAX_TOKEN:
            return self._json(400, {"error": "bad_request",
                                    "detail": 'expected {"token": "..."} (a token)'})
        sessions, token = self._dashboard.sessions, token.strip()
        via = "one-time link" if token.startswith(ONE_TIME_PREFIX) else "API token"
        try:
            if via == "one-time link":
                session = self._one_time(token, request)
            elif self._gate.kind == "tls":
                # the API token alone: not the client certificate the browser may also show
                peer = dataclasses.replace(request.peer, cert_subject=None, cert_names=())
                who = self._auth.identify(peer, f"Bearer {token}")
                session = sessions.open(who.role, who.name)
            else:
                raise SessionError("this listener takes one-time links only (`ringleader "
                                   "dashboard` prints one)")
        except (AuthError, SessionError) as exc:
            status = 401 if isinstance(exc, SessionError) else \
                exc.status or {"too_many_requests": 429}.get(exc.code, 401)
            code = "unauthorized" if isinstance(exc, SessionError) else exc.code
            response = self._json(status, {"error": code, "detail": exc.detail})
            if isinstance(exc, AuthError) and exc.retry_after is not None:
                response.headers.append(("retry-after", str(exc.retry_after)))
            if status != 429:
                self._audit(request, ANONYMOUS, response, "sign-in", via)
            return response
        response = self._session_answer(session)
        response.headers.append(("set-cookie", set_cookie(
            self._gate.cookie, sessions.cookie_value(session), int(sessions.lifetime))))
        self._audit(request, Identity(session.name, session.role), response, "sign-in", via)
        return response

    def _one_time(self, token: str, request: Request) -> Session:
        """Exchange a one-time token; failures are limited per address as API tokens are
        (a valid token is never refused)."""
        from ringleader.dashboard.session import SessionError

        limiter = self._auth.limiter
        key = request.peer.address.rpartition(":")[0]
        try:
            return self._dashboard.sessions.exchange(token)
        except SessionError:
            wait = limiter.retry_after(key)
            if wait is not None:
                raise AuthError("too_many_requests", f"too many failed attempts; retry in "
                                f"{wait} s", wait) from None
            limiter.record(key)
            raise

    def _logout(self, request: Request) -> Response:
        from ringleader.dashboard.session import clear_cookie

        session = request.session
        response = self._json(200, {"ok": True, "detail": "signed out"})
        response.headers.append(("set-cookie", clear_cookie(self._gate.cookie)))
        if session is not None:
            self._dashboard.sessions.close(session.sid)
            self._dashboard.hub.wake()  # its streams end
            self._audit(request, request.identity, response, "sign-out", "")
        return response

    def _audit(self, request: Request, who: Identity, response: Response, action: str,
               via: str) -> None:
        """A sign-in or sign-out, without the request's body (it holds the token)."""
        audit = self._dashboard.audit
        if audit is None:
            return
        args: dict[str, Any] = {"action": action, **({"via": via} if via else {})}
        audit.record(dataclasses.replace(request, identity=who, body=b""), "session", None,
                     response, args)

    @staticmethod
    def _json(status: int, data: Any) -> Response:
        return Response(status, _encode(data))
