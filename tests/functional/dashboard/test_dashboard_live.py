"""The live stream in Chromium against the stand-in server, which can do what a real
controller cannot be made to do on demand, and counts the streams it serves: drop every
stream (a proxy restarting), forget its history (a controller restart), burst 200 status
messages in one write. One stream per tab, resumed after its last id when dropped or when
the tab is shown again, closed while hidden, and bursts rendered once per frame. (Several
tabs and their buttons on a real controller: test_dashboard_controller.py.)"""

from __future__ import annotations

import json
import os

from dashboard_harness import set_hidden
from dashboard_standin import StandIn, watcher
from playwright.sync_api import Page, expect

from ringleader.dashboard.stream import ReplayBuffer, encode_frame
from ringleader.testing import wait_until_sync


def texts(page: Page) -> list[str]:
    return page.locator(".log .line .text").all_text_contents()


def open_logs(dashboard, role: str = "read") -> Page:
    page = dashboard.open(role)
    page.get_by_role("link", name="Logs").click()
    expect(page.locator(".count")).to_have_text("0 lines")
    dashboard.live(page)
    return page


def test_a_dropped_stream_resumes_after_its_last_event_id(dashboard) -> None:
    server: StandIn = dashboard.server
    page = open_logs(dashboard)
    ids = [server.log("web", 1, f"line {i}") for i in range(3)]
    expect(page.locator(".log .line")).to_have_count(3)
    opened = len(server.streams)

    server.drop_streams()
    ids += [server.log("web", 1, f"line {i}") for i in range(3, 5)]  # while it reconnects
    wait_until_sync(lambda: len(server.streams) > opened, what="the browser reconnecting")
    resumed = server.streams[-1]
    assert resumed.last_event_id == ids[2]  # the browser's own Last-Event-ID header
    ids.append(server.log("web", 1, "line 5"))
    expect(page.locator(".log .line")).to_have_count(6)
    assert texts(page) == [f"line {i}" for i in range(6)]  # each exactly once, in order
    assert resumed.sent == ids[3:]
    dashboard.live(page)


def test_a_stream_that_cannot_resume_starts_afresh(dashboard) -> None:
    server: StandIn = dashboard.server
    page = open_logs(dashboard)
    server.log("web", 1, "from the old controller")
    expect(page.locator(".log .line")).to_have_count(1)
    with server.changed:  # the controller restarted: a new epoch, a new history
        server.buffer = ReplayBuffer(os.urandom(4).hex())
    server.log("web", 1, "from the new controller")
    server.drop_streams()
    expect(page.locator(".log .line .text")).to_have_text(["from the new controller"])


def test_a_hidden_tab_closes_its_stream_and_catches_up_when_shown(dashboard) -> None:
    server: StandIn = dashboard.server
    page = open_logs(dashboard)
    first = server.log("web", 1, "seen")
    expect(page.locator(".log .line")).to_have_count(1)
    assert server.open_streams() == 1

    set_hidden(page, True)
    wait_until_sync(lambda: server.open_streams() == 0, what="the hidden tab's stream to close")
    expect(page.locator("#live")).to_have_attribute("data-state", "paused")
    server.log("web", 1, "missed 1")
    server.log("web", 1, "missed 2")

    set_hidden(page, False)
    expect(page.locator(".log .line")).to_have_count(3)
    assert texts(page) == ["seen", "missed 1", "missed 2"]
    reopened = server.streams[-1]
    assert reopened.query["last_event_id"] == [first]  # reopened by the page itself
    assert server.open_streams() == 1


def test_one_stream_per_tab_whatever_the_view(dashboard) -> None:
    server: StandIn = dashboard.server
    page = dashboard.open("read")
    views = [("Logs", ["status,logs"]), ("Events", ["events"]), ("Charts", ["status,stats"]),
             ("Overview", ["status,stats"]), ("Cluster", None)]

    def open_topics() -> list[list[str]]:
        return [s.query["topics"] for s in server.streams if s.open]

    for link, topics in views:
        page.get_by_role("link", name=link).click()
        expect(page.locator("h1")).to_have_text(link if link != "Overview" else "Watchers")
        expected = [] if topics is None else [topics]
        wait_until_sync(lambda expected=expected: open_topics() == expected,
                        what=f"one stream for {link}")
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="web", exact=True).click()
    wait_until_sync(lambda: [s.query.get("watcher") for s in server.streams if s.open]
                    == [["web"]], what="the watcher's stream")


def test_200_workers_render_and_a_burst_renders_once_per_frame(dashboard) -> None:
    server: StandIn = dashboard.server
    server.set_watchers([watcher(f"w{i:03}", 1) for i in range(200)])
    page = dashboard.open("read")
    rows = page.locator("main tbody tr")
    expect(rows).to_have_count(200)
    dashboard.live(page)
    # Count the renders (mutation batches of the table) and the animation frames.
    page.evaluate("""() => {
        window.__renders = 0;
        window.__frames = 0;
        new MutationObserver(() => { window.__renders += 1; })
            .observe(document.querySelector("main tbody"),
                     {subtree: true, childList: true, characterData: true, attributes: true});
        const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }""")
    messages = 200
    snapshot = server.status()
    encoded = {}
    for state in ("stopping", "active", "failed"):
        snapshot["watchers"] = [dict(w, state=state) for w in server.watchers]
        encoded[state] = encode_frame("status", json.dumps(snapshot).encode())
    # every worker changes state 200 times, in one write; the last says "failed"
    frames = b"".join(encoded["stopping" if n % 2 == 0 else "active"]
                      for n in range(messages - 1)) + encoded["failed"]
    server.push(frames)
    expect(page.locator("main tbody .badge", has_text="failed")).to_have_count(200)
    renders, elapsed = page.evaluate("[window.__renders, window.__frames]")
    # Without coalescing every message renders; with it, at most once per frame.
    assert 1 <= renders <= elapsed + 1, f"{renders} renders in {elapsed} frames"
    assert renders < messages // 2, f"{renders} renders for {messages} messages"
