"""Screenshots of the dashboard for the docs, from the stand-in server with sample data:
``.venv/bin/python tests/functional/dashboard/screenshots.py docs/`` writes
dashboard-desktop.png and dashboard-phone.png (and more with ``--all``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dashboard_standin import StandIn, watcher
from playwright.sync_api import Page, expect, sync_playwright

from conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE


def sample(server: StandIn) -> None:
    web = watcher("web", 4)
    web["processes"][2].update(restarts=2, exit_history=[1, -9], reason="", uptime=301.2)
    crasher = watcher("crasher", 1)
    crasher.update(state="flapping", detail="crasher.1: 5 exits in 10 s (last exits: 1, 1, 1)")
    crasher["processes"][0].update(state="flapping", pid=None, reason="5 exits in 10 s",
                                   restarts=5, exit_code=1, exit_history=[1, 1, 1])
    server.set_watchers([web, watcher("worker", 3), watcher("scheduler", 1),
                         crasher, watcher("mailer", 2, "stopped")])


def feed(server: StandIn, page: Page) -> None:
    now = time.time() - 120
    for i in range(60):
        cpu = 6 + 5 * ((i * 7) % 11) / 10
        server.stats(now + 2 * i, cpu=cpu, rss=(48 + i % 5) << 20)
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        expect(page.locator('tr[data-name="web"] td').nth(2)).to_have_text(f"{4 * cpu:.1f} %")


def main(out: Path, everything: bool) -> None:
    with StandIn() as server, sync_playwright() as playwright:
        sample(server)
        for line in ["\x1b[32mINFO\x1b[0m listening on :8080", "GET /health 200 1.2 ms",
                     "\x1b[33mWARN\x1b[0m slow request: GET /report 812 ms",
                     "GET /api/items 200 4.8 ms"]:
            server.log("web", 1, line)
        server.log("crasher", 1, "Traceback (most recent call last): ...", "stderr")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, viewport, scheme in [("desktop", DESKTOP, "light"), ("phone", PHONE, "dark")]:
            context = browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                          color_scheme=scheme)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(server.one_time_url("operate"))
            expect(page.locator("main tbody tr")).to_have_count(5)
            feed(server, page)
            page.screenshot(path=out / f"dashboard-{name}.png", full_page=True)
            if everything:
                for view, wait in [("#/w/web", "tr[data-wid]"), ("#/logs", ".log .line"),
                                   ("#/charts", ".chart canvas")]:
                    page.goto(server.url(f"/ui/{view}"))
                    expect(page.locator(wait).first).to_be_visible()
                    slug = view.strip("#/").replace("/", "-")
                    page.screenshot(path=out / f"dashboard-{name}-{slug}.png", full_page=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--all" in sys.argv)
