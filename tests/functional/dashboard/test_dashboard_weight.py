"""Page weight: what the overview makes the browser download, gzipped, stays under 100 KB;
uPlot is downloaded only by the charts page. Run with -s to see the figures."""

from __future__ import annotations

from urllib.parse import urlsplit

from dashboard_standin import StandIn
from playwright.sync_api import expect

BUDGET = 100 * 1024


def test_the_overview_weighs_less_than_100_kb_gzipped(dashboard) -> None:
    server: StandIn = dashboard.server
    context = dashboard.context()
    loaded: list[str] = []
    context.on("response", lambda r: loaded.append(urlsplit(r.url).path)
               if r.url.startswith(server.url("/ui/")) else None)
    page = dashboard.watch(context.new_page())
    page.goto(server.one_time_url("read"))
    expect(page.locator("main tbody tr")).to_have_count(3)

    def weight(paths: list[str]) -> int:
        total = 0
        for path in paths:
            asset = server.assets.lookup(path)
            assert asset is not None, path
            total += len(asset.gzipped or asset.body)
        return total

    overview = weight(loaded)
    assert not any("uPlot.esm" in path for path in loaded)
    assert overview < BUDGET
    before = len(loaded)
    page.get_by_role("link", name="Charts").click()
    expect(page.locator(".summary")).to_have_text("Waiting for statistics…")
    charts = weight(loaded[before:])
    assert [p for p in loaded[before:] if "uPlot.esm" in p]
    print(f"\noverview: {len(loaded[:before])} files, {overview / 1024:.1f} KB gzipped; "
          f"charts adds {charts / 1024:.1f} KB (uPlot)")
