"""Screenshots of the dashboard for the docs, from a real controller (`ringleader run`) with
real workers: ``.venv/bin/python tests/functional/dashboard/screenshots.py docs/`` writes
dashboard-desktop.png and dashboard-phone.png (and the watcher, logs and charts pages with
``--all``). It takes about 30 s: the sparklines need a few stats samples."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from dashboard_harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from playwright.sync_api import expect, sync_playwright
from real_controller import RealController

WEB = """import os, time
wid = os.environ["RINGLEADER_WID"]
for line in ["\\x1b[32mINFO\\x1b[0m listening on :808" + wid, "GET /health 200 1.2 ms",
             "\\x1b[33mWARN\\x1b[0m slow request: GET /report 812 ms",
             "GET /api/items 200 4.8 ms"]:
    print(line, flush=True)
while True:  # a little work, for the CPU column and the sparkline
    sum(range(20000 * int(wid)))
    time.sleep(0.02)
"""
CRASHER = "import sys; print('Traceback (most recent call last): ...', file=sys.stderr); " \
          "sys.exit(1)"


def main(out: Path, everything: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        (Path(tmp) / "web.py").write_text(WEB)
        extra = f"""
[watchers.web]
cmd = "{sys.executable} -u {tmp}/web.py"
numprocesses = 4
[watchers.scheduler]
cmd = "sleep 3600"
[watchers.mailer]
cmd = "sleep 3600"
numprocesses = 2
"""
        controller = RealController(Path(tmp), extra=extra)
        try:
            controller.call("stop", name="mailer")
            # added, then refused to stay up: the console says so, the page shows it
            controller.cli("add", "--start", "crasher", f'{sys.executable} -c "{CRASHER}"')
            time.sleep(20)  # stats samples for the sparklines; the crasher flaps
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, viewport, scheme in [("desktop", DESKTOP, "light"),
                                           ("phone", PHONE, "dark")]:
                context = browser.new_context(viewport=viewport,  # type: ignore[arg-type]
                                              color_scheme=scheme)  # type: ignore[arg-type]
                page = context.new_page()
                page.goto(controller.one_time_url("operate"))
                expect(page.locator("main tbody tr")).to_have_count(5)
                expect(page.locator("#live")).to_have_attribute("data-state", "live")
                time.sleep(30)  # live samples for the sparklines (one per 2 s)
                page.screenshot(path=out / f"dashboard-{name}.png", full_page=True)
                if everything:
                    for view, wait in [("#/w/web", "tr[data-wid]"), ("#/logs", ".log .line"),
                                       ("#/charts", ".chart canvas")]:
                        page.goto(controller.url(f"/ui/{view}"))
                        expect(page.locator(wait).first).to_be_visible()
                        time.sleep(3)
                        slug = view.strip("#/").replace("/", "-")
                        page.screenshot(path=out / f"dashboard-{name}-{slug}.png",
                                        full_page=True)
                context.close()
            browser.close()
        finally:
            controller.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--all" in sys.argv)
