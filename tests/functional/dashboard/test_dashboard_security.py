"""The dashboard's defences in Chromium: the one-time link, the cookie, sign-out, forged
requests (same page without the role, another origin, another Host), the page's headers,
and text from workers that must stay text."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dashboard_standin import StandIn
from playwright.sync_api import Page, expect

from ringleader.dashboard.guard import CONTENT_SECURITY_POLICY
from ringleader.testing import wait_until_sync

REFUSED = r"status of (400|401|403|405)"  # Chromium logs refused requests as console errors


def fetch(page: Page, method: str, path: str, *, body: str | None = "{}",
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A request from the page's own JavaScript, with its cookie."""
    return page.evaluate("""async ([method, path, body, headers]) => {
        const r = await fetch(path, {method, body, headers, credentials: "same-origin"});
        return {status: r.status, body: await r.json()};
    }""", [method, path, body, headers or {}])


def test_the_one_time_link_signs_in_once_and_leaves_no_token(dashboard) -> None:
    server: StandIn = dashboard.server
    link = server.one_time_url("operate")
    token = link.partition("#token=")[2]
    context = dashboard.context()
    seen: list[str] = []
    context.on("request", lambda request: seen.append(request.url))
    page = dashboard.watch(context.new_page())
    page.goto(link)
    expect(page.locator("#who")).to_have_text("operate · uid:0(test)")
    assert page.url == server.url("/ui/#/")  # dropped from the address bar
    assert not any(token in url for url in seen)
    assert not any(token in r.path or token in str(r.headers) for r in server.requests
                   if r.path != "/v1/session")
    [cookie] = context.cookies()
    assert cookie["name"] == f"__Host-ringleader-{server.port}"
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == \
        (True, True, "Strict", "/")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: out of the page's reach
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0

    dashboard.problems.allow(REFUSED)
    again = dashboard.watch(dashboard.context().new_page())
    again.goto(link)
    expect(again.get_by_role("alert")).to_contain_text("invalid one-time token")
    expect(again.get_by_role("heading", name="Sign in")).to_be_visible()


def test_login_form_and_sign_out(dashboard) -> None:
    server: StandIn = dashboard.server
    dashboard.problems.allow(REFUSED)
    page = dashboard.open(path="/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    page.get_by_label("Token").fill("rlo_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid one-time token")

    page.get_by_label("Token").fill(server.sessions.issue_token("admin", "uid:0(test)"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main tbody tr")).to_have_count(3)
    cookie = page.context.cookies()[0]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("Signed out.")
    wait_until_sync(lambda: server.open_streams() == 0, what="the stream to close")
    assert fetch(page, "GET", "/v1/session", body=None)["body"] == {"session": None}
    # the old cookie value, replayed by hand, is dead too
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/v1/status", headers={
        "Host": f"127.0.0.1:{server.port}", "Cookie": f"{cookie['name']}={cookie['value']}"})
    assert connection.getresponse().status == 401
    connection.close()


def test_a_read_session_cannot_change_anything(dashboard) -> None:
    server: StandIn = dashboard.server
    dashboard.problems.allow(REFUSED)
    page = dashboard.open("read")
    expect(page.locator("main tbody tr")).to_have_count(3)
    expect(page.locator("main button")).to_have_count(0)
    csrf = fetch(page, "GET", "/v1/session", body=None)["body"]["session"]["csrf"]
    json_headers = {"Content-Type": "application/json", "X-Ringleader-CSRF": csrf}

    forged = fetch(page, "POST", "/v1/watchers/web/stop", headers=json_headers)
    assert forged["status"] == 403
    assert forged["body"]["detail"] == "stop needs the operate role; session:uid:0(test) has read"
    no_csrf = fetch(page, "POST", "/v1/watchers/web/stop",
                    headers={"Content-Type": "application/json"})
    assert no_csrf == {"status": 403, "body": {
        "error": "forbidden", "detail": "the X-Ringleader-CSRF header is missing"}}
    assert fetch(page, "DELETE", "/v1/watchers/web", headers=json_headers)["status"] == 405
    as_text = fetch(page, "POST", "/v1/watchers/web/stop",
                    headers={"Content-Type": "text/plain", "X-Ringleader-CSRF": csrf})
    assert as_text["status"] == 400
    assert server.find("web")["state"] == "active"


class _AttackerPage(BaseHTTPRequestHandler):
    """A page of another origin, with no CSP, that tries to act with the victim's
    cookie: a "simple" no-cors fetch and an auto-submitted form."""

    target = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = f"""<!doctype html><body>
<form id="f" method="POST" action="{self.target}/v1/watchers/web/stop"
      enctype="text/plain"><input name='{{"a":"' value='b"}}'></form>
<script>
fetch("{self.target}/v1/watchers/web/stop", {{method: "POST", mode: "no-cors",
  credentials: "include", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .finally(() => document.getElementById("f").submit());
</script></body>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def attacker(standin: StandIn) -> Iterator[str]:
    handler = type("Attacker", (_AttackerPage,), {"target": f"http://127.0.0.1:{standin.port}"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_post_from_another_origin_is_refused(dashboard, attacker: str) -> None:
    server: StandIn = dashboard.server
    context = dashboard.context()
    page = dashboard.open("admin", context=context)  # the victim is signed in
    expect(page.locator("main tbody tr")).to_have_count(3)
    evil = context.new_page()  # not watched: its own console errors are expected
    evil.goto(attacker)

    def attempts() -> list[Any]:
        return [r for r in server.requests if r.path == "/v1/watchers/web/stop"]

    wait_until_sync(lambda: len(attempts()) == 2 and all(r.status for r in attempts()),
                    what="the fetch and the form")
    assert [r.status for r in attempts()] == [403, 403]
    assert all(r.headers["sec-fetch-site"] == "cross-site" for r in attempts())
    assert server.find("web")["state"] == "active"


def test_another_host_name_is_refused(standin: StandIn) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host."""
    session = standin.sessions.open("admin", "uid:0(test)")
    cookie = f"{standin.cookie}={standin.sessions.cookie_value(session)}"
    for path in ("/ui/", "/v1/status"):
        connection = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
        connection.request("GET", path, headers={"Host": f"evil.example:{standin.port}",
                                                 "Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 403, path
        connection.close()


def test_the_page_and_assets_carry_their_headers(dashboard) -> None:
    server: StandIn = dashboard.server
    context = dashboard.context()
    assets: list[Any] = []
    context.on("response", lambda r: assets.append(r) if "/ui/assets/" in r.url else None)
    page = dashboard.watch(context.new_page())
    response = page.goto(server.one_time_url("read"))
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    expect(page.locator("main tbody tr")).to_have_count(3)
    assert assets
    for asset in assets:
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-encoding"] == "gzip"


def test_text_from_workers_stays_text(dashboard) -> None:
    server: StandIn = dashboard.server
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
    server.log("web", 1, hostile)
    server.event("watcher.changed", {"watcher": "web", "action": "stopped", "detail": hostile})
    server.options["web"] = {"args": hostile}
    page = dashboard.open("admin")
    page.get_by_role("link", name="Logs").click()
    expect(page.locator(".log .line .text")).to_have_text([hostile])
    page.get_by_role("link", name="Events").click()
    expect(page.locator(".timeline .what")).to_have_text([f"web stopped: {hostile}"])
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="web", exact=True).click()
    expect(page.get_by_role("row", name="args")).to_contain_text(hostile)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert json.dumps(page.evaluate("window.__violations")) == "[]"


def test_an_ended_session_brings_back_the_sign_in(dashboard) -> None:
    """The controller ends the session (it restarted, or the session expired): the
    stream's reconnection is refused and the page asks for a sign-in again."""
    server: StandIn = dashboard.server
    dashboard.problems.allow(REFUSED)
    dashboard.problems.allow("EventSource's response has a MIME type")
    page = dashboard.open("admin")
    dashboard.live(page)
    sid = page.context.cookies()[0]["value"].split(".")[0]
    server.sessions.close(sid)
    server.drop_streams()
    expect(page.get_by_role("alert")).to_have_text("Your session has ended: sign in again.")
    expect(page.locator("#nav")).to_be_hidden()
    wait_until_sync(lambda: server.open_streams() == 0, what="no stream left")
