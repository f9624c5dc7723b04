"""The browser request checks (Host, Sec-Fetch-Site, Origin, method and body type, CSRF)
and the response header sets."""

from __future__ import annotations

import pytest

from ringleader.dashboard.guard import (
    API_HEADERS,
    ASSET_HEADERS,
    CONTENT_SECURITY_POLICY,
    PAGE_HEADERS,
    Origins,
    Refusal,
    check_browser,
    check_csrf,
    check_host,
)

LOOPBACK = Origins.for_names("http", ["127.0.0.1"], 8123)
TLS = Origins.for_names("https", ["ctl.example.org", "10.0.0.5"], 443)
ORIGIN = "http://127.0.0.1:8123"


def headers(**values: str) -> dict[str, str]:
    base = {"host": "127.0.0.1:8123", "origin": ORIGIN, "sec-fetch-site": "same-origin",
            "content-type": "application/json"}
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return {k: v for k, v in base.items() if v != "-"}


def test_the_dashboards_own_post_passes() -> None:
    assert check_browser("POST", headers(), LOOPBACK) is None
    assert check_browser("POST", headers(content_type="application/json; charset=utf-8"),
                         LOOPBACK) is None
    assert check_browser("POST", headers(sec_fetch_site="-"), LOOPBACK) is None  # old browser


def test_origins_list_their_host_forms() -> None:
    assert LOOPBACK.hosts == {"127.0.0.1:8123"}
    assert TLS.hosts == {"ctl.example.org", "ctl.example.org:443", "10.0.0.5", "10.0.0.5:443"}
    assert Origins.for_names("https", ["[::1]"], 8443).hosts == {"[::1]:8443"}
    assert TLS.origin("CTL.example.org") == "https://ctl.example.org"


@pytest.mark.parametrize(("host", "status"), [
    ("-", 400),
    ("localhost:8123", 403),  # another name for the same socket: another origin
    ("evil.example:8123", 403),  # DNS rebinding
    ("127.0.0.1", 403),
    ("127.0.0.1:8124", 403),
    ("127.0.0.1:8123.", 403),
])
def test_the_host_must_be_on_the_allowlist(host: str, status: int) -> None:
    refusal = check_browser("GET", headers(host=host, origin="-"), LOOPBACK)
    assert refusal is not None and refusal.status == status
    assert "Host" in refusal.detail


def test_the_host_check_ignores_case() -> None:
    assert check_host({"host": "CTL.Example.org"}, TLS) is None
    assert check_browser("POST", {"host": "CTL.example.org", "origin": "https://ctl.example.org",
                                  "content-type": "application/json"}, TLS) is None


@pytest.mark.parametrize(("method", "site", "allowed"), [
    ("GET", "same-origin", True),
    ("GET", "none", True),  # typed or bookmarked
    ("GET", "same-site", False),
    ("GET", "cross-site", False),
    ("POST", "same-origin", True),
    ("POST", "none", False),
    ("POST", "same-site", False),
    ("POST", "cross-site", False),
])
def test_fetch_metadata(method: str, site: str, allowed: bool) -> None:
    refusal = check_browser(method, headers(sec_fetch_site=site), LOOPBACK)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal == Refusal(403, "forbidden", f"Sec-Fetch-Site: {site} (a {method} must "
                                  "come from the dashboard's own page)")


@pytest.mark.parametrize(("method", "mode", "dest", "page", "allowed"), [
    ("GET", "navigate", "document", True, True),  # a link from elsewhere opens the page
    ("HEAD", "navigate", "document", True, True),
    ("GET", "navigate", "document", False, False),  # an API path or an asset: never
    ("GET", "navigate", "iframe", True, False),
    ("GET", "no-cors", "document", True, False),
    ("GET", "cors", "empty", True, False),
    ("POST", "navigate", "document", True, False),  # a form posted from elsewhere
])
def test_only_the_page_opens_from_another_site(method: str, mode: str, dest: str,
                                               page: bool, allowed: bool) -> None:
    sent = headers(sec_fetch_site="cross-site", sec_fetch_mode=mode, sec_fetch_dest=dest,
                   origin="-")
    refusal = check_browser(method, sent, LOOPBACK, page=page)
    assert (refusal is None) is allowed, refusal


@pytest.mark.parametrize("origin", ["null", "http://localhost:8123", "https://127.0.0.1:8123",
                                    "http://127.0.0.1:8124", "http://127.0.0.1:8123/",
                                    "http://evil.example"])
def test_a_foreign_origin_is_refused_for_every_method(origin: str) -> None:
    for method in ("GET", "POST"):
        refusal = check_browser(method, headers(origin=origin), LOOPBACK)
        assert refusal is not None and refusal.status == 403
        assert refusal.detail.startswith(f"Origin {origin!r}")


def test_a_change_needs_an_origin() -> None:
    assert check_browser("GET", headers(origin="-"), LOOPBACK) is None
    refusal = check_browser("POST", headers(origin="-"), LOOPBACK)
    assert refusal == Refusal(403, "forbidden", "a POST needs an Origin header")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_changes_are_posts(method: str) -> None:
    refusal = check_browser(method, headers(), LOOPBACK)
    assert refusal is not None and (refusal.status, refusal.code) == (405, "method_not_allowed")


@pytest.mark.parametrize("content_type", ["-", "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/jsonx", "text/json"])
def test_a_change_needs_a_json_body(content_type: str) -> None:
    refusal = check_browser("POST", headers(content_type=content_type), LOOPBACK)
    assert refusal is not None and (refusal.status, refusal.code) == (400, "bad_request")
    assert "application/json" in refusal.detail


def test_csrf() -> None:
    token = "c" * 43
    assert check_csrf("GET", {}, token) is None  # reads need none
    assert check_csrf("POST", {"x-ringleader-csrf": token}, token) is None
    missing = check_csrf("POST", {}, token)
    assert missing == Refusal(403, "forbidden", "the X-Ringleader-CSRF header is missing")
    for sent in ("", "c" * 42, "C" * 43, token + " "):
        wrong = check_csrf("POST", {"x-ringleader-csrf": sent}, token)
        assert wrong is not None and "does not match" in wrong.detail


def test_the_page_policy_is_the_issues_plus_trusted_types() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'")
    page = dict(PAGE_HEADERS)
    assert page["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page["cache-control"] == "no-store"
    for header_set in (PAGE_HEADERS, ASSET_HEADERS, API_HEADERS):
        values = dict(header_set)
        assert values["x-content-type-options"] == "nosniff"
        assert values["referrer-policy"] == "no-referrer"
        assert all(name == name.lower() for name in values)
    assert dict(ASSET_HEADERS)["cache-control"] == "public, max-age=31536000, immutable"
    assert dict(API_HEADERS)["cache-control"] == "no-store"
