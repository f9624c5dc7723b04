"""Page weight: what the overview makes the browser download from a real controller,
gzipped as served, stays under 100 KB; uPlot is downloaded only by the charts page. Run
with -s to see the figures (bench/dashboard.py reports them in bench/RESULTS.md)."""

from __future__ import annotations

from typing import Any

from dashboard_harness import Dashboard
from playwright.sync_api import expect
from real_controller import RealController

BUDGET = 100 * 1024


def test_the_overview_weighs_less_than_100_kb_gzipped(board: Dashboard,
                                                      controller: RealController) -> None:
    context = board.context()
    loaded: list[Any] = []
    context.on("response", lambda r: loaded.append(r) if "/ui/" in r.url else None)
    page = board.watch(context.new_page())
    page.goto(controller.one_time_url("read"))
    expect(page.locator("main tbody tr")).to_have_count(1)

    def weight(responses: list[Any]) -> int:
        # what went over the wire: the gzipped bodies' lengths
        return sum(int(r.headers["content-length"]) for r in responses)

    overview = weight(loaded)
    assert all(r.headers.get("content-encoding") == "gzip" for r in loaded
               if "/ui/assets/" in r.url)
    assert not any("uPlot.esm" in r.url for r in loaded)
    assert overview < BUDGET
    before = len(loaded)
    page.get_by_role("link", name="Charts").click()
    expect(page.locator(".chart canvas")).to_have_count(2)
    charts = weight(loaded[before:])
    assert [r for r in loaded[before:] if "uPlot.esm" in r.url]
    print(f"\noverview: {before} files, {overview / 1024:.1f} KB gzipped; "
          f"charts adds {charts / 1024:.1f} KB (uPlot)")
