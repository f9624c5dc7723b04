"""Figures of the dashboard in Chromium against the stand-in server, for the bursts a real
controller cannot be made to send on demand (bench/dashboard.py measures the rest against
a real controller; both go to bench/RESULTS.md):

- time to first render: from the navigation's start to the overview showing 200 workers
  (one-time token exchange, module loading, stream, first status), median of 5;
- the status rate the page keeps up with: 500 snapshots of 200 workers written at once,
  until the last one is on screen;
- the log rate: 5000 lines written at once, until the last one is on screen.

``PYTHONPATH=tests/functional/dashboard .venv/bin/python
tests/functional/dashboard/bench_dashboard.py``
"""

from __future__ import annotations

import json
import os
import statistics
import time

from dashboard_harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from dashboard_standin import StandIn, watcher
from playwright.sync_api import Page, expect, sync_playwright

from ringleader.dashboard.stream import encode_frame

# Records when the overview first shows 200 rows, in ms since the navigation started.
FIRST_RENDER = """
new MutationObserver((_, observer) => {
  if (document.querySelectorAll("main tbody tr").length >= 200) {
    window.__firstRender = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true});
"""


def first_render(server: StandIn, browser_page: Page) -> float:
    browser_page.goto(server.one_time_url("read"))
    expect(browser_page.locator("main tbody tr")).to_have_count(200)
    return float(browser_page.evaluate("window.__firstRender"))


def main() -> None:
    with StandIn([watcher(f"w{i:03}", 1) for i in range(200)]) as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        renders = []
        for _ in range(5):
            context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
            context.add_init_script(FIRST_RENDER)
            renders.append(first_render(server, context.new_page()))
            context.close()
        print(f"first render, 200 workers: median {statistics.median(renders):.0f} ms "
              f"(runs: {', '.join(f'{r:.0f}' for r in renders)})")

        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(server.one_time_url("read"))
        expect(page.locator("main tbody tr")).to_have_count(200)
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        snapshot = server.status()
        frames = {}
        for state in ("stopping", "active", "failed"):
            snapshot["watchers"] = [dict(w, state=state) for w in server.watchers]
            frames[state] = encode_frame("status", json.dumps(snapshot).encode())
        count = 500
        burst = b"".join(frames["stopping" if n % 2 else "active"] for n in range(count - 1))
        start = time.perf_counter()
        server.push(burst + frames["failed"])
        expect(page.locator("main tbody .badge", has_text="failed")).to_have_count(200,
                                                                                  timeout=60_000)
        elapsed = time.perf_counter() - start
        print(f"status snapshots of 200 workers ({len(frames['failed']) // 1024} KB each): "
              f"{count} in {elapsed:.2f} s = {count / elapsed:.0f}/s")

        page.get_by_role("link", name="Logs").click()
        expect(page.locator(".count")).to_have_text("0 lines")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        lines = 5000
        logs = b"".join(encode_frame("log", json.dumps(
            {"at": time.time(), "watcher": "w001", "wid": 1, "stream": "stdout",
             "line": f"\x1b[32mINFO\x1b[0m request {n} served in 1.2 ms"}).encode(),
            f"{server.buffer.epoch}-{n + 1}") for n in range(lines))
        start = time.perf_counter()
        server.push(logs)
        expect(page.locator(".count")).to_have_text(f"{lines} lines", timeout=60_000)
        elapsed = time.perf_counter() - start
        print(f"log lines (ANSI colours): {lines} in {elapsed:.2f} s = {lines / elapsed:.0f}/s")
        browser.close()
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
