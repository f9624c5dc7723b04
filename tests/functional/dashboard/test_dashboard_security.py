"""The dashboard's defences in Chromium against a real controller: the one-time link (once,
and never in a URL the server sees nor in a log), the cookie, the login form (one-time
token on the loopback listener, an API token on the TLS listener), sign-out, the page's
headers, and text from workers and options that must stay text."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_harness import Dashboard
from playwright.sync_api import Browser, expect
from real_controller import RealController

from ringleader.dashboard.guard import CONTENT_SECURITY_POLICY

REFUSED = r"status of (400|401|403|405)"  # Chromium logs refused requests as console errors


def test_the_one_time_link_signs_in_once_and_leaves_no_token(
        board: Dashboard, controller: RealController) -> None:
    link = controller.one_time_url("operate")
    token = link.partition("#token=")[2]
    context = board.context()
    seen: list[str] = []
    context.on("request", lambda request: seen.append(request.url))
    page = board.watch(context.new_page())
    page.goto(link)
    expect(page.locator("#who")).to_contain_text("operate · uid:")
    assert page.url == controller.url("/ui/#/")  # dropped from the address bar
    assert seen and not any(token in url for url in seen)
    [cookie] = context.cookies()
    port = int(link.split(":")[2].split("/")[0])
    assert cookie["name"] == f"__Host-ringleader-{port}"
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == \
        (True, True, "Strict", "/")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: out of the page's reach
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0

    board.problems.allow(REFUSED)
    again = board.watch(board.context().new_page())
    again.goto(link)
    expect(again.get_by_role("alert")).to_contain_text("invalid one-time token")
    expect(again.get_by_role("heading", name="Sign in")).to_be_visible()
    # neither the controller's log nor its audit log ever saw the token
    assert token not in controller.log.read_text()
    audit = (controller.dir / "ringleader-audit.log").read_text()
    assert token not in audit
    sessions = [(e["who"].startswith("session:"), e["args"], e["result"])
                for e in controller.audit() if e["op"] == "session"]
    assert sessions == [(True, {"action": "sign-in", "via": "one-time link"}, "ok"),
                        (False, {"action": "sign-in", "via": "one-time link"},
                         "unauthorized")]


def test_login_form_and_sign_out(board: Dashboard, controller: RealController) -> None:
    board.problems.allow(REFUSED)
    page = board.open(path="/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    page.get_by_label("Token").fill("rlo_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid one-time token")
    page.get_by_label("Token").fill("rl_an-api-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("takes one-time links only")

    token = controller.one_time_url("admin").partition("#token=")[2]
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator('tr[data-name="worker"] td').nth(1)).to_have_text("3/3")
    cookie = page.context.cookies()[0]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("Signed out.")
    assert page.context.cookies() == []
    # the old cookie value, replayed by hand, is dead too
    port = int(page.url.split(":")[2].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/v1/status", headers={
        "Host": f"127.0.0.1:{port}", "Cookie": f"{cookie['name']}={cookie['value']}"})
    assert connection.getresponse().status == 401
    connection.close()


def test_the_page_and_assets_carry_their_headers(board: Dashboard,
                                                 controller: RealController) -> None:
    context = board.context()
    assets: list[Any] = []
    context.on("response", lambda r: assets.append(r) if "/ui/assets/" in r.url else None)
    page = board.watch(context.new_page())
    response = page.goto(controller.one_time_url("read"))
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    expect(page.locator("main tbody tr")).to_have_count(1)
    assert assets
    for asset in assets:
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-encoding"] == "gzip"


def test_text_from_workers_and_options_stays_text(board: Dashboard,
                                                   controller: RealController) -> None:
    hostile = "<img src=x onerror=window.pwned=1><script>window.pwned=1</script>"
    controller.say(hostile)
    page = board.open("admin")
    page.get_by_role("link", name="Events").click()
    board.live(page)
    controller.call("add", body={"name": "hostile", "cmd": "sleep", "numprocesses": 1,
                                 "options": {"args": [hostile],
                                             "env": {"API_TOKEN": "s3cret", "MODE": hostile}}})
    expect(page.locator(".timeline .what", has_text="hostile")).to_have_text(["hostile added"])
    page.get_by_role("link", name="Logs").click()
    expect(page.locator(".log .line .text", has_text="script")).to_have_text([hostile])
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="hostile", exact=True).click()
    expect(page.get_by_role("row", name="args")).to_contain_text(hostile)
    env = page.locator("tr", has=page.get_by_role("rowheader", name="env", exact=True))
    expect(env).to_contain_text('"API_TOKEN":"***"')  # a secret-looking value stays hidden
    expect(env).to_contain_text(f'"MODE":"{hostile}"')
    assert "s3cret" not in page.content()
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert json.dumps(page.evaluate("window.__violations")) == "[]"


# -- the TLS listener's login ------------------------------------------------------------

@pytest.fixture
def tls_controller(tmp_path: Path) -> Iterator[RealController]:
    ctl = RealController(tmp_path, tls=True)
    try:
        yield ctl
    finally:
        ctl.stop()


@pytest.fixture
def tls_board(browser: Browser, tls_controller: RealController) -> Iterator[Dashboard]:
    board = Dashboard(browser, tls_controller)
    try:
        yield board
        problems = board.check()
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
    finally:
        board.close()


def test_the_tls_listener_signs_in_with_an_api_token(
        tls_board: Dashboard, tls_controller: RealController) -> None:
    ctl = tls_controller
    tls_board.problems.allow(REFUSED)
    page = tls_board.watch(tls_board.context(ca_ignored=True).new_page())
    page.goto(ctl.tls_url("/ui"))  # -> /ui/
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill("rl_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid token")
    page.get_by_label("Token").fill(ctl.tokens["read"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text("read · token:read-token")
    expect(page.locator('tr[data-name="worker"] td').nth(1)).to_have_text("3/3")
    expect(page.locator("main button")).to_have_count(0)
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["secure"]) == (f"__Host-ringleader-{ctl.port}", True)

    # the console's link over https is on the TLS listener, by the name it was reached by
    done = subprocess.run([*ctl_command(ctl, "localhost"), "dashboard", "--role", "operate"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"https://localhost:{ctl.port}/ui/#token=rlo_")
    other = tls_board.watch(tls_board.context(ca_ignored=True).new_page())
    other.goto(done.stdout.strip())
    expect(other.locator("#who")).to_have_text("operate · token:admin-token")
    expect(other.get_by_role("button", name="Stop worker")).to_be_visible()
    # a console's bearer request on the same listener is unchanged
    status = subprocess.run([*ctl_command(ctl, "127.0.0.1"), "status", "--json"],
                            capture_output=True, text=True, timeout=30)
    assert json.loads(status.stdout)["watchers"][0]["running"] == 3


def ctl_command(ctl: RealController, host: str) -> list[str]:
    return [sys.executable, "-m", "ringleader",
            "-e", f"https://{host}:{ctl.port}", "--token", ctl.tokens["admin"],
            "--cafile", ctl.ca]
