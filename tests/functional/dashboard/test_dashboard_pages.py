"""The dashboard's pages in Chromium against the stand-in server, for what they make of
data a real controller cannot be made to give on demand: exact CPU and memory figures
(the overview's columns and sparklines, the charts), ANSI colours and stderr lines, more
lines at once than a controller's log buffer keeps (the page's cap), crafted events (the
timeline's wording), a cluster, and a flapping watcher's canned reasons. The views'
dealings with a real controller are in test_dashboard_views.py."""

from __future__ import annotations

import time

from dashboard_standin import StandIn, watcher
from playwright.sync_api import expect

from ringleader.testing import wait_until_sync

ROW = "main tbody tr"
PHONE = {"width": 390, "height": 844}


def test_overview_shows_watchers_stats_and_filters(dashboard) -> None:
    server: StandIn = dashboard.server
    page = dashboard.open("read")
    expect(page.locator(ROW)).to_have_count(3)
    web = page.locator('tr[data-name="web"]')
    expect(web.locator(".badge")).to_have_text("active")
    expect(web.locator("td").nth(1)).to_have_text("2/2")
    expect(page.locator('tr[data-name="cron"] .badge')).to_have_text("stopped")
    expect(page.locator(".summary")).to_have_text("3 watchers · 5/6 processes running")

    now = time.time()
    for i, cpu in enumerate([5.0, 25.0, 10.0]):
        server.stats(now + 2 * i, cpu=cpu, rss=64 << 20)
        expect(web.locator("td").nth(2)).to_have_text(f"{2 * cpu:.1f} %")  # two processes
    expect(web.locator("td").nth(3)).to_have_text("128.0 MiB")
    points = web.locator(".spark polyline")
    expect(points).not_to_have_attribute("points", "")

    page.keyboard.press("/")  # jumps to the filter
    expect(page.get_by_placeholder("Filter by name or state")).to_be_focused()
    page.keyboard.type("work")
    expect(page.locator(f"{ROW}:visible")).to_have_count(1)
    page.get_by_placeholder("Filter by name or state").fill("stopped")
    expect(page.locator(f"{ROW}:visible th")).to_have_text(["cron"])
    page.get_by_placeholder("Filter by name or state").fill("nothing")
    expect(page.get_by_text("No watcher matches.")).to_be_visible()


def test_logs_follow_filter_search_pause(dashboard) -> None:
    server: StandIn = dashboard.server
    server.log("web", 1, "before the page: backlog")
    page = dashboard.open("read")
    page.get_by_role("link", name="Logs").click()
    lines = page.locator(".log .line")
    expect(lines).to_have_count(1)
    server.log("web", 1, "\x1b[1;31mred and bold\x1b[0m then plain")
    server.log("worker", 2, "oops", stream="stderr")
    server.log("web", 2, "\x1b[38;5;46mgreen 256\x1b[39m and \x1b]8;;http://x\x07link\x1b]8;;\x07")
    expect(lines).to_have_count(4)
    red = lines.nth(1).locator("span.ansi-bold.ansi-fg1")
    expect(red).to_have_text("red and bold")
    expect(lines.nth(1).locator(".text")).to_have_text("red and bold then plain")
    expect(lines.nth(2)).to_have_class("line stderr")
    expect(lines.nth(3).locator(".text")).to_have_text("green 256 and link")
    assert lines.nth(3).locator(".text span").first.evaluate("e => e.style.color") == \
        "rgb(0, 255, 0)"
    expect(page.locator(".log a")).to_have_count(0)  # an OSC 8 hyperlink stays text

    page.locator("label", has_text="stderr").locator("input").uncheck()
    expect(page.locator(".log .line:visible")).to_have_count(3)
    page.get_by_placeholder("Search").fill("RED")
    expect(page.locator(".log .line:visible")).to_have_count(1)
    page.get_by_placeholder("Search").fill("")

    page.get_by_role("button", name="Pause").click()
    server.log("web", 1, "while paused")
    expect(page.locator(".count")).to_have_text("4 lines · paused, 1 new")
    expect(lines).to_have_count(4)
    page.get_by_role("button", name="Resume").click()
    expect(lines).to_have_count(5)
    expect(lines.last.locator(".text")).to_have_text("while paused")

    page.locator("#log-watcher").select_option("worker")
    expect(page).to_have_url(server.url("/ui/#/logs/worker"))
    expect(page.locator(".log .line")).to_have_count(1)  # worker's backlog only
    assert server.streams[-1].query["watcher"] == ["worker"]


def test_logs_keep_a_capped_buffer(dashboard) -> None:
    server: StandIn = dashboard.server
    page = dashboard.open("read")
    page.get_by_role("link", name="Logs").click()
    expect(page.locator(".count")).to_have_text("0 lines")
    dashboard.live(page)
    for i in range(5100):
        server.log("web", 1, f"line {i}")
    expect(page.locator(".count")).to_have_text("5000 lines")
    expect(page.locator(".log .line")).to_have_count(5000)
    expect(page.locator(".log .line").first.locator(".text")).to_have_text("line 100")


def test_events_timeline(dashboard) -> None:
    server: StandIn = dashboard.server
    server.event("watcher.changed", {"watcher": "web", "action": "starting", "detail": ""})
    page = dashboard.open("read")
    page.get_by_role("link", name="Events").click()
    items = page.locator(".timeline li")
    expect(items).to_have_count(1)
    server.event("process.exited", {"watcher": "web", "wid": 1, "pid": 4101, "exit_code": None,
                                    "signal": 9, "uptime": 3.0, "expected": False})
    server.event("process.state", {"watcher": "web", "wid": 1, "pid": None, "old": "running",
                                   "new": "backoff", "reason": "exited: SIGKILL"})
    expect(items).to_have_count(3)
    expect(items.first.locator(".what")).to_have_text(
        "web.1 running → backoff (exited: SIGKILL)")
    expect(items.nth(1).locator(".what")).to_have_text("web.1 pid 4101 exited: SIGKILL")
    expect(items.last.locator(".what")).to_have_text("web starting")
    page.get_by_placeholder("Filter events").fill("exited")
    expect(page.locator(".timeline li:visible")).to_have_count(2)


def test_charts_draw_cpu_and_memory_with_uplot(dashboard) -> None:
    server: StandIn = dashboard.server
    page = dashboard.open("read")
    now = time.time()
    for i in range(5):
        server.stats(now + 2 * i, cpu=10.0 + i)
        expect(page.locator('tr[data-name="web"] td').nth(2)).to_have_text(f"{20 + 2 * i}.0 %")
    page.get_by_role("link", name="Charts").click()
    expect(page.locator(".chart canvas")).to_have_count(2)
    legend = page.locator(".chart").first.locator(".u-legend .u-series")
    expect(legend).to_have_count(4)  # time, then cron, web and worker
    expect(legend.nth(2)).to_contain_text("web")

    page.locator("#chart-watcher").select_option("worker")
    expect(page.locator(".chart").first.locator(".u-legend .u-series")).to_have_count(4)
    expect(page.locator(".chart").first.locator(".u-legend")).to_contain_text("process 3")
    server.stats(now + 12, cpu=50.0)
    expect(page.locator(".chart").first.locator(".u-legend")).to_contain_text("process 3")


def test_cluster_page(dashboard) -> None:
    server: StandIn = dashboard.server
    page = dashboard.open("admin")
    page.get_by_role("link", name="Cluster").click()
    expect(page.get_by_text("This controller is not a cluster node.")).to_be_visible()
    server.cluster = {
        "enabled": True, "node": "alpha",
        "nodes": [{"name": "alpha", "health": "healthy", "labels": {"zone": "a"}, "detail": ""},
                  {"name": "beta", "health": "unreachable", "labels": {}, "detail": "timeout"}],
        "jobs": [{"name": "web", "placement": "count=3",
                  "nodes": {"alpha": {"running": 2, "desired": 2, "state": "active"},
                            "beta": {"running": 0, "desired": 1, "state": "unknown"}}}]}
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("row", name="alpha (this one)")).to_contain_text("zone=a")
    expect(page.get_by_role("row", name="web")).to_contain_text("2/20/1")
    page.get_by_role("button", name="Drain beta").click()
    wait_until_sync(lambda: server.drained == ["beta"], what="the drain request")


def test_stopped_watcher_shows_why(dashboard) -> None:
    server: StandIn = dashboard.server
    flapping = watcher("web", 1)
    flapping["state"] = "flapping"
    flapping["detail"] = "web.1: flapping (last exits: 1, 1, 1)"
    flapping["processes"][0].update(state="flapping", pid=None, reason="5 exits in 10 s",
                                    exit_code=1, exit_history=[1, 1, 1], restarts=4)
    server.set_watchers([flapping])
    page = dashboard.open("read")
    page.get_by_role("link", name="web", exact=True).click()
    expect(page.locator(".detail")).to_have_text("web.1: flapping (last exits: 1, 1, 1)")
    cells = page.locator("tr[data-wid='1'] td")
    expect(cells.nth(4)).to_have_text("exit 1")
    expect(cells.nth(5)).to_have_text("5 exits in 10 s")


def test_backing_off_watcher_shows_when_it_is_tried_next(dashboard) -> None:
    """A crash loop between two delayed respawns: `backoff`, why, and the next try."""
    server: StandIn = dashboard.server
    crash = watcher("crash", 1)
    retry_at = time.time() + 60
    crash.update(state="backoff", running=0, retry_at=retry_at,
                 detail="crash.1: exit code 1; respawn in 60.0s (last exits: 1)")
    crash["processes"][0].update(state="backoff", pid=None, exit_code=1,
                                 exit_history=[1], retry_at=retry_at)
    server.set_watchers([crash])
    page = dashboard.open("read")
    badge = page.locator('tr[data-name="crash"] .badge')
    expect(badge).to_have_text("backoff")
    next_try = "next try at " + time.strftime("%H:%M:%S", time.localtime(retry_at))
    expect(badge).to_have_attribute(
        "title", f"crash.1: exit code 1; respawn in 60.0s (last exits: 1) · {next_try}")
    page.get_by_role("link", name="crash", exact=True).click()
    expect(page.locator(".detail")).to_have_text(
        f"crash.1: exit code 1; respawn in 60.0s (last exits: 1) · {next_try}")
