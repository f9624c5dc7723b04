"""The browser harness: Debian's Chromium driven by Playwright (never a downloaded
browser: `executable_path`), one browser per test module, a fresh context per test, and
every console error, uncaught page error and CSP or Trusted Types violation collected:
a test that leaves one behind fails.

`dashboard` gives a `StandIn` server (phase 2: the real controller) and opens pages on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from dashboard_standin import StandIn

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Runs before any script of a page: reports CSP and Trusted Types violations (which the
# console also shows, but an event cannot be missed or misread).
_WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || e.sample}`);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: while Playwright's sync API is started, the main thread
    # counts as running an event loop, and the other tests' asyncio.run() would refuse.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    playwright = playwright_api.sync_playwright().start()
    # launch() gives the browser a fresh temporary profile (user data dir), removed on
    # close; each test then gets its own context (cookies, storage) on top of it.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@dataclass
class Problems:
    """What went wrong in a page: console errors, page errors, policy violations."""

    found: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """A console error this test provokes on purpose (e.g. a refused request)."""
        self.allowed.append(re.compile(pattern))

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.found.append(f"console: {message.text} ({message.location.get('url')})")

    def unexpected(self) -> list[str]:
        return [p for p in self.found if not any(a.search(p) for a in self.allowed)]


class Dashboard:
    """A stand-in controller and the pages a test opens on it."""

    def __init__(self, browser: Browser, server: StandIn) -> None:
        self.browser = browser
        self.server = server
        self.problems = Problems()
        self.contexts: list[BrowserContext] = []
        self.pages: list[Page] = []

    def context(self, viewport: dict[str, int] | None = None,
                color_scheme: str = "light") -> BrowserContext:
        context = self.browser.new_context(viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                                           color_scheme=color_scheme)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)  # a stuck page fails fast, not at 60 s
        context.add_init_script(_WATCH_VIOLATIONS)
        self.contexts.append(context)
        return context

    def watch(self, page: Page) -> Page:
        page.on("console", self.problems.console)
        page.on("pageerror", lambda error: self.problems.found.append(f"page error: {error}"))
        self.pages.append(page)
        return page

    def open(self, role: str = "admin", *, context: BrowserContext | None = None,
             path: str | None = None) -> Page:
        """Sign in through a one-time URL (the `ringleader dashboard` way) and wait for
        the overview, or open *path* as it is."""
        from playwright.sync_api import expect

        page = self.watch((context or self.context()).new_page())
        page.goto(self.server.url(path) if path else self.server.one_time_url(role))
        if path is None:
            expect(page.locator("#who")).to_contain_text(role)
        return page

    @staticmethod
    def live(page: Page) -> None:
        """Wait until the page's stream is subscribed (its `hello` arrived)."""
        from playwright.sync_api import expect

        expect(page.locator("#live")).to_have_attribute("data-state", "live")

    def check(self) -> list[str]:
        problems = self.problems.unexpected()
        for page in self.pages:
            if not page.is_closed():
                violations = page.evaluate("window.__violations || []")
                problems += [f"policy violation: {v}" for v in violations]
        return problems

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def dashboard(browser: Browser, standin: StandIn) -> Iterator[Dashboard]:
    board = Dashboard(browser, standin)
    try:
        yield board
        problems = board.check()
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
    finally:
        board.close()
