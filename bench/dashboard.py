"""The web dashboard's figures against a real controller (`ringleader run`, 200 `sleep`
watchers of one process each and one worker that prints on demand), in Debian's Chromium
driven by Playwright:

- the controller's RSS before any dashboard, once `ringleader dashboard` has opened its
  loopback listener, with the overview of 201 watchers open and live, and after the page
  closed (the stream hub lingers 60 s, then stops);
- the page weight: what the overview downloads, gzipped as served (the charts page adds
  uPlot);
- time to first render: from the navigation's start (one-time link) to the overview
  showing the 201 watchers, median of 5;
- a line a worker prints, until it is on screen (signal, print, pipe, controller, stream,
  page), median of 5;
- the log rate the page keeps up with: a worker prints 1000 lines at once (what a log
  follower's queue holds: a bigger burst between two reads shows "[N lines dropped]", on
  the page as in `ringleader logs -f`), until the last one is on screen.

The status rate the page keeps up with (bursts the controller cannot be made to send on
demand) is measured against the stand-in server:
``PYTHONPATH=tests/functional/dashboard .venv/bin/python
tests/functional/dashboard/bench_dashboard.py``.

Run: ``.venv/bin/python bench/dashboard.py``
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "functional" / "dashboard"))

from dashboard_harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from real_controller import RealController  # noqa: E402

WATCHERS = 200
LINES = 1000  # a follower's queue (output/logbuffer.py FOLLOW_QUEUE): more at once may drop

FIRST_RENDER = """
new MutationObserver((_, observer) => {
  if (document.querySelectorAll("main tbody tr").length >= ROWS) {
    window.__firstRender = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true});
""".replace("ROWS", str(WATCHERS + 1))


def mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def settled_rss(controller: RealController) -> int:
    """The RSS once it stops moving (a benchmark, not a test: 0.5 s apart, 10 looks)."""
    last = controller.rss()
    for _ in range(10):
        time.sleep(0.5)
        now = controller.rss()
        if now == last:
            break
        last = now
    return last


def overview(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("main tbody tr")).to_have_count(WATCHERS + 1, timeout=30_000)


def main() -> None:
    extra = "".join(f'\n[watchers.s{i:03}]\ncmd = "sleep 3600"\n' for i in range(WATCHERS))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        controller = RealController(Path(tmp), workers=1, extra=extra)
        try:
            figures: list[tuple[str, str]] = []
            figures.append(("controller RSS, 201 watchers, no dashboard",
                            mb(settled_rss(controller))))
            url = controller.one_time_url("read")
            figures.append(("... after `ringleader dashboard` (loopback listener open)",
                            mb(settled_rss(controller))))
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
            loaded: list[Any] = []
            context.on("response", lambda r: loaded.append(r) if "/ui/" in r.url else None)
            page = context.new_page()
            overview(page, url)
            expect(page.locator("#live")).to_have_attribute("data-state", "live")
            figures.append(("... with the overview open and live", mb(settled_rss(controller))))
            weight = sum(int(r.headers["content-length"]) for r in loaded)
            figures.append(("page weight of the overview, gzipped",
                            f"{weight / 1024:.1f} KB in {len(loaded)} files"))
            before = len(loaded)
            page.get_by_role("link", name="Charts").click()
            expect(page.locator(".chart canvas")).to_have_count(2)
            charts = sum(int(r.headers["content-length"]) for r in loaded[before:])
            figures.append(("the charts page adds (uPlot)", f"{charts / 1024:.1f} KB"))

            page.get_by_role("link", name="Logs").click()
            expect(page.locator("#live")).to_have_attribute("data-state", "live")
            expect(page.locator(".log .line .text", has_text="ready")).to_have_count(1)
            latencies = []
            for n in range(5):
                start = time.perf_counter()
                controller.say(f"one line {n}")
                expect(page.locator(".log .line .text").last).to_have_text(f"one line {n}")
                latencies.append((time.perf_counter() - start) * 1000)
            figures.append(("one line a worker prints, until it is on screen, median of 5",
                            f"{statistics.median(latencies):.0f} ms (runs: "
                            f"{', '.join(f'{r:.0f}' for r in latencies)})"))
            (controller.dir / "say.txt").write_text(
                "\n".join(f"\x1b[32mINFO\x1b[0m request {n} served" for n in range(LINES)))
            start = time.perf_counter()
            os.kill(controller.pids()[0], signal.SIGUSR1)
            expect(page.locator(".log .line .text").last).to_have_text(
                f"INFO request {LINES - 1} served", timeout=60_000)
            elapsed = time.perf_counter() - start
            figures.append(("log lines a worker prints, until the last is on screen",
                            f"{LINES} in {elapsed:.2f} s = {LINES / elapsed:.0f}/s"))
            context.close()

            renders = []
            for _ in range(5):
                context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
                context.add_init_script(FIRST_RENDER)
                page = context.new_page()
                overview(page, controller.one_time_url("read"))
                renders.append(float(page.evaluate("window.__firstRender")))
                context.close()
            figures.append(("time to first render, 201 watchers, median of 5",
                            f"{statistics.median(renders):.0f} ms (runs: "
                            f"{', '.join(f'{r:.0f}' for r in renders)})"))
            browser.close()
            figures.append(("controller RSS after the pages closed",
                            mb(settled_rss(controller))))
        finally:
            controller.stop()
    for name, value in figures:
        print(f"| {name} | {value} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
