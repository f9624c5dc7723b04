"""The checks on browser requests, as pure functions of the method, the headers and the
body's type, and the security headers of every answer to a browser.

A cookie is sent by the browser whoever made the page that sends the request, so a
request that a cookie authenticates must also prove it comes from the dashboard's own
page. `check_browser` runs before authentication, on every request to a dashboard
listener (and, on the TLS listener, on every request without an Authorization header):

- ``Host`` on the allowlist: a DNS-rebinding page (attacker.example resolving to
  127.0.0.1) is same-origin with itself, not with us, and sends its own name;
- ``Sec-Fetch-Site`` (sent by every current browser) ``same-origin``, or ``none`` (typed
  or bookmarked) for a GET; never ``same-site`` or ``cross-site``, except for the page
  itself opened as a top-level document (``Sec-Fetch-Mode: navigate``, ``Sec-Fetch-Dest:
  document``): a link from elsewhere (the file ``ringleader dashboard --open`` writes, a
  wiki) must open it, and it holds no data (the cookie is SameSite=Strict, the page asks
  for everything itself, same-origin, and cannot be framed). A link with a one-time token
  opened that way signs the browser in as whoever minted it (a console user, at most
  with their role, named in the page's header): it gives the other site nothing;
- ``Origin`` equal to our own when present, and required on a state change;
- a state change is a POST whose body is JSON (``Content-Type: application/json``):
  a cross-origin form or a "simple" fetch cannot send that without a CORS preflight,
  which we never grant.

`check_csrf` runs after the cookie named a session, on a state change: the
``X-Ringleader-CSRF`` header must equal the session's CSRF token. Bearer-token and
unix-socket clients (the console) are not browsers and skip both.

Each check answers None (pass) or a `Refusal` with an HTTP status, an API error code and
a one-line reason that names the header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, final

from ringleader.dashboard.session import equal

CSRF_HEADER = "x-ringleader-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})

# The policy, plus Trusted Types with no policy allowed: no code of the page
# turns a string into HTML or script, so even an injected script could not.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
_COMMON = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
)
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),  # frame-ancestors for browsers that predate it
    ("cross-origin-opener-policy", "same-origin"),
    *_COMMON,
)
ASSET_HEADERS: tuple[tuple[str, str], ...] = (
    ("cache-control", "public, max-age=31536000, immutable"),
    *_COMMON,
)
# JSON and event streams answered to a browser: never stored by a cache.
API_HEADERS: tuple[tuple[str, str], ...] = (("cache-control", "no-store"), *_COMMON)


@final
@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str  # an ErrorCode value of the API
    detail: str


@final
@dataclass(frozen=True, slots=True)
class Origins:
    """A listener as browsers see it: its scheme and the Host values it answers to
    (exact, lower case, with the port unless it is the scheme's default)."""

    scheme: Literal["http", "https"]
    hosts: frozenset[str]

    @classmethod
    def for_names(cls, scheme: Literal["http", "https"], names: Iterable[str],
                  port: int) -> Origins:
        """The origins of a listener on *port* reached by these host names or IP literals
        (an IPv6 literal in brackets: ``[::1]``)."""
        default = 443 if scheme == "https" else 80
        hosts = set()
        for name in names:
            name = name.lower()
            hosts.add(f"{name}:{port}")
            if port == default:
                hosts.add(name)
        return cls(scheme, frozenset(hosts))

    def origin(self, host: str) -> str:
        return f"{self.scheme}://{host.lower()}"


def _forbidden(detail: str) -> Refusal:
    return Refusal(403, "forbidden", detail)


def check_host(headers: Mapping[str, str], origins: Origins) -> Refusal | None:
    host = headers.get("host")
    if host is None:
        return Refusal(400, "bad_request", "the Host header is missing")
    if host.lower() not in origins.hosts:
        return _forbidden(f"Host {host!r} is not a name of this listener (allowed: "
                          f"{', '.join(sorted(origins.hosts))})")
    return None


def check_browser(method: str, headers: Mapping[str, str], origins: Origins, *,
                  page: bool = False) -> Refusal | None:
    """The checks that need no session: Host, fetch metadata, Origin, method and body
    type. *headers* has lower-case names; *page*: the path is the page's document."""
    refusal = check_host(headers, origins)
    if refusal is not None:
        return refusal
    safe = method in SAFE_METHODS
    fetch_site = headers.get("sec-fetch-site")
    navigation = page and safe and headers.get("sec-fetch-mode") == "navigate" \
        and headers.get("sec-fetch-dest") == "document"
    if fetch_site is not None and fetch_site != "same-origin" and not navigation \
            and not (safe and fetch_site == "none"):
        return _forbidden(f"Sec-Fetch-Site: {fetch_site} (a {method} must come from the "
                          "dashboard's own page)")
    origin = headers.get("origin")
    expected = origins.origin(headers["host"])
    if origin is not None and origin != expected:
        return _forbidden(f"Origin {origin!r} is not this dashboard's ({expected})")
    if safe:
        return None
    if origin is None:
        return _forbidden(f"a {method} needs an Origin header")
    if method != "POST":
        return Refusal(405, "method_not_allowed", f"{method} is refused from a browser: "
                       "every change is a POST with a JSON body")
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return Refusal(400, "bad_request", f"Content-Type {media_type or 'missing'}: a "
                       "change needs a JSON body (application/json)")
    return None


def check_csrf(method: str, headers: Mapping[str, str], csrf: str) -> Refusal | None:
    """After the cookie named a session: a state change carries its CSRF token."""
    if method in SAFE_METHODS:
        return None
    sent = headers.get(CSRF_HEADER)
    if sent is None:
        return _forbidden("the X-Ringleader-CSRF header is missing")
    if not equal(sent, csrf):
        return _forbidden("the X-Ringleader-CSRF header does not match the session")
    return None
