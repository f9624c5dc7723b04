"""The dashboard in Chromium against a real controller with real workers (issue 11's list):
the link `ringleader dashboard` prints, the workers, "+" making a 4th real process, stop
making them go, a printed line showing, a read-only session and forged requests, a page
of another origin, several tabs, and no CSP violation or page error anywhere (the `board`
fixture fails a test that leaves one)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import psutil
from dashboard_harness import Dashboard, set_hidden
from playwright.sync_api import Page, Response, expect
from real_controller import RINGLEADER, RealController

from ringleader.testing import wait_until_sync

REFUSED = r"status of (400|401|403|405)"  # Chromium logs refused requests as console errors
WORKER = 'tr[data-name="worker"]'


def fetch(page: Page, method: str, path: str, *, body: str | None = "{}",
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A request from the page's own JavaScript, with its cookie."""
    result: dict[str, Any] = page.evaluate("""async ([method, path, body, headers]) => {
        const r = await fetch(path, {method, body, headers, credentials: "same-origin"});
        return {status: r.status, body: await r.json()};
    }""", [method, path, body, headers or {}])
    return result


def open_link(board: Dashboard, url: str, role: str) -> Page:
    page = board.watch(board.context().new_page())
    page.goto(url)
    expect(page.locator("#who")).to_contain_text(role)
    return page


def test_the_console_link_shows_the_workers_and_the_buttons_act(
        board: Dashboard, controller: RealController) -> None:
    printed = controller.cli("dashboard", "--role", "operate")
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and "/ui/#token=rlo_" in url
    assert "operate session" in printed.stderr

    page = open_link(board, url, "operate")
    worker = page.locator(WORKER)
    expect(worker.locator("td").nth(1)).to_have_text("3/3")
    expect(worker.locator(".badge")).to_have_text("active")
    before = set(controller.pids())
    assert controller.children() == before and len(before) == 3

    worker.get_by_role("button", name="Add a process to worker").click()
    expect(worker.locator("td").nth(1)).to_have_text("4/4")
    after = set(controller.pids())
    assert len(after) == 4 and before < after
    assert controller.children() == after  # a 4th real process, the controller's child
    assert all(psutil.Process(pid).is_running() for pid in after)

    worker.get_by_role("button", name="Stop worker").click()
    expect(worker.locator(".badge")).to_have_text("stopped")
    expect(worker.locator("td").nth(1)).to_have_text("0/4")
    wait_until_sync(lambda: not any(psutil.pid_exists(pid) for pid in after),
                    what="the stopped workers to be gone")
    assert controller.children() == set()
    audited = [(e["op"], e["who"]) for e in controller.audit() if e["op"] in ("incr", "stop")]
    assert [op for op, _ in audited] == ["incr", "stop"]
    assert all(who.startswith("session:") for _, who in audited)


def test_a_line_a_worker_prints_shows_in_the_logs(board: Dashboard,
                                                  controller: RealController) -> None:
    page = board.open("read")
    page.get_by_role("link", name="Logs").click()
    expect(page.locator(".log .line .text", has_text="ready")).to_have_count(3)  # backlog
    board.live(page)
    line = f"\x1b[1;32mhello\x1b[0m from the worker {os.urandom(4).hex()}"
    controller.say(line)
    shown = page.locator(".log .line").last
    expect(shown.locator(".text")).to_have_text(line.replace("\x1b[1;32m", "")
                                                .replace("\x1b[0m", ""))
    expect(shown.locator("span.ansi-bold.ansi-fg2")).to_have_text("hello")
    controller.say("oops on stdout too")
    expect(page.locator(".log .line").last.locator(".text")).to_have_text("oops on stdout too")


def test_a_read_session_shows_no_button_and_a_forged_post_is_refused(
        board: Dashboard, controller: RealController) -> None:
    board.problems.allow(REFUSED)
    page = board.open("read")
    expect(page.locator(WORKER)).to_have_count(1)
    expect(page.locator("main button")).to_have_count(0)
    page.get_by_role("link", name="worker", exact=True).click()
    expect(page.locator("main tbody tr[data-wid]")).to_have_count(3)
    expect(page.locator("main button")).to_have_count(0)

    csrf = fetch(page, "GET", "/v1/session", body=None)["body"]["session"]["csrf"]
    forged = fetch(page, "POST", "/v1/watchers/worker/stop",
                   headers={"Content-Type": "application/json", "X-Ringleader-CSRF": csrf})
    assert forged["status"] == 403
    assert forged["body"]["detail"].startswith("stop needs the operate role; session:")
    for path, body in [("/v1/watchers/worker/options", '{"options": {"numprocesses": 9}}'),
                       ("/v1/watchers/worker/remove", "{}"), ("/v1/quit", "{}")]:
        assert fetch(page, "POST", path, body=body, headers={
            "Content-Type": "application/json", "X-Ringleader-CSRF": csrf})["status"] == 403
    assert controller.call("get_watcher", name="worker")["running"] == 3
    assert controller.children() == set(controller.pids())


def test_a_post_from_a_page_of_another_origin_is_refused(
        board: Dashboard, controller: RealController, attacker: Any) -> None:
    victim = open_link(board, controller.one_time_url("admin"), "admin")  # signed in
    expect(victim.locator(WORKER)).to_have_count(1)
    context = victim.context
    target = controller.url("").rstrip("/")
    answers: list[Response] = []
    evil = context.new_page()  # not watched: its own console errors are expected
    evil.on("response", lambda r: answers.append(r) if "/v1/" in r.url else None)
    evil.goto(attacker(target))
    evil.wait_for_url(f"{target}/v1/watchers/worker/stop")  # the form, after the fetch
    assert [(r.request.resource_type, r.status) for r in answers] == [("document", 403)]
    # the no-cors fetch's answer is opaque to the page (and to Playwright): the
    # controller's log tells both refusals
    refused = "API forbidden from 127.0.0.1:"
    wait_until_sync(lambda: controller.log.read_text().count(refused) == 2,
                    what="both refusals in the controller's log")
    assert controller.log.read_text().count("Sec-Fetch-Site: cross-site") == 2
    assert controller.call("get_watcher", name="worker")["state"] == "active"
    assert not any(e["op"] == "stop" for e in controller.audit())


def test_several_tabs_leave_room_for_actions(board: Dashboard,
                                             controller: RealController) -> None:
    """Chromium opens at most 6 connections to a host: tabs in the background close their
    streams, so the foreground tab's buttons still get through."""
    front = open_link(board, controller.one_time_url("operate"), "operate")
    context = front.context
    board.live(front)
    tabs = []
    for _ in range(7):
        tab = board.watch(context.new_page())
        tab.goto(controller.url())
        board.live(tab)
        set_hidden(tab, True)
        expect(tab.locator("#live")).to_have_attribute("data-state", "paused")
        tabs.append(tab)
    front.bring_to_front()  # the tab the user looks at (the others are paused in Chromium)
    worker = front.locator(WORKER)
    worker.get_by_role("button", name="Stop worker").click()
    expect(worker.locator(".badge")).to_have_text("stopped")
    worker.get_by_role("button", name="Start worker").click()
    expect(worker.locator(".badge")).to_have_text("active")
    tabs[0].bring_to_front()
    set_hidden(tabs[0], False)
    expect(tabs[0].locator(f"{WORKER} .badge")).to_have_text("active")
    expect(tabs[0].locator("#live")).to_have_attribute("data-state", "live")


def test_signing_out_in_one_tab_ends_the_session_in_the_others(
        board: Dashboard, controller: RealController) -> None:
    board.problems.allow(REFUSED)
    board.problems.allow("EventSource's response has a MIME type")
    first = open_link(board, controller.one_time_url("admin"), "admin")
    board.live(first)
    second = board.watch(first.context.new_page())
    second.goto(controller.url())
    expect(second.locator("#who")).to_contain_text("admin")
    second.get_by_role("button", name="Sign out").click()
    expect(second.get_by_role("alert")).to_have_text("Signed out.")
    # the first tab's stream ends with the session; its reconnection is refused
    expect(first.get_by_role("alert")).to_have_text("Your session has ended: sign in again.")
    expect(first.locator("#nav")).to_be_hidden()
    assert [e["args"]["action"] for e in controller.audit() if e["op"] == "session"] == \
        ["sign-in", "sign-out"]


def test_open_hands_the_browser_a_private_page_not_the_link(
        board: Dashboard, controller: RealController, tmp_path: Path) -> None:
    """`ringleader dashboard --open` gives the browser ($BROWSER here) a file of the
    user's own that redirects to the link: the token is on no command line."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    argv = tmp_path / "browser-argv"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv}\n')
    browser.chmod(0o700)
    env = dict(os.environ, BROWSER=f"{browser} %s", XDG_RUNTIME_DIR=str(runtime))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    printed = subprocess.run([*RINGLEADER, "dashboard", "--open", "--role", "read", "-e",
                              controller.socket], capture_output=True, text=True, env=env,
                             timeout=30)
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    [opened] = argv.read_text().splitlines()
    page_file = runtime / "ringleader" / "dashboard.html"
    assert opened == f"file://{page_file}"
    assert "token" not in opened
    assert stat.S_IMODE(page_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(page_file.stat().st_mode) == 0o600
    assert url.replace("&", "&amp;") in page_file.read_text()

    page = board.watch(board.context().new_page())
    page.goto(opened)  # what the browser does with it: on to the link, signed in
    expect(page.locator("#who")).to_contain_text("read")
    expect(page.locator(WORKER)).to_have_count(1)
    assert page.url == controller.url("/ui/#/")
