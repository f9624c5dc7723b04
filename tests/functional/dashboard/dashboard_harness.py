"""The browser harness: Debian's Chromium driven by Playwright (never a downloaded
browser: `executable_path`), one browser per test module, a fresh context per test, and
every console error, uncaught page error and CSP or Trusted Types violation collected:
a test that leaves one behind fails. Without Chromium the browser tests skip, but fail
under CI=true (`.ci/run` installs Chromium); without Playwright (a test extra) the browser
test modules cannot be imported: a collection error, in CI or not.

`board` opens pages on a real controller (`RealController`: `ringleader run` with real
workers); `dashboard` on the `StandIn` server, for what a real controller cannot be made
to do on demand (drop a stream, forget its history, burst 200 status messages at once).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import pytest
from dashboard_standin import StandIn
from real_controller import RealController

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

CHROMIUM = os.environ.get("RINGLEADER_TEST_CHROMIUM", "/usr/bin/chromium")  # Debian's
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


def _missing(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests must run in CI: {what}")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: while Playwright's sync API is started, the main thread
    # counts as running an event loop, and the other tests' asyncio.run() would refuse.
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        import playwright.sync_api as playwright_api
    except ImportError:
        _missing("playwright is missing: pip install -e '.[test]'")
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


def set_hidden(page: Page, hidden: bool) -> None:
    """Hide or show the tab. Playwright keeps every page visible by design
    (microsoft/playwright#2286), so the page's visibility is overridden and the event the
    browser would fire is dispatched: what happens next (the page closing or reopening
    its EventSource, the server seeing it) is real."""
    page.evaluate("""(hidden) => {
        const state = hidden ? "hidden" : "visible";
        Object.defineProperty(document, "visibilityState", {configurable: true,
                                                            get: () => state});
        Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", hidden)


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


class Server(Protocol):
    def url(self, path: str = ...) -> str: ...

    def one_time_url(self, role: str = ...) -> str: ...


class Dashboard:
    """A controller (real or stand-in) and the pages a test opens on it."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.problems = Problems()
        self.contexts: list[BrowserContext] = []
        self.pages: list[Page] = []

    def context(self, viewport: dict[str, int] | None = None,
                color_scheme: str = "light", *, ca_ignored: bool = False) -> BrowserContext:
        context = self.browser.new_context(viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                                           color_scheme=color_scheme,  # type: ignore[arg-type]
                                           ignore_https_errors=ca_ignored)
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


def _checked(board: Dashboard) -> Iterator[Dashboard]:
    try:
        yield board
        problems = board.check()
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
    finally:
        board.close()


@pytest.fixture
def dashboard(browser: Browser, standin: StandIn) -> Iterator[Dashboard]:
    yield from _checked(Dashboard(browser, standin))


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[RealController]:
    ctl = RealController(tmp_path)
    try:
        yield ctl
    finally:
        ctl.stop()


@pytest.fixture
def board(browser: Browser, controller: RealController) -> Iterator[Dashboard]:
    """Pages on a real controller."""
    yield from _checked(Dashboard(browser, controller))


class _AttackerPage(BaseHTTPRequestHandler):
    """A page of another origin, with no CSP, that tries to act with the victim's cookie:
    a "simple" no-cors fetch, then an auto-submitted form."""

    target = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = f"""<!doctype html><body>
<form id="f" method="POST" action="{self.target}/v1/watchers/worker/stop"
      enctype="text/plain"><input name='{{"a":"' value='b"}}'></form>
<script>
fetch("{self.target}/v1/watchers/worker/stop", {{method: "POST", mode: "no-cors",
  credentials: "include", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .finally(() => document.getElementById("f").submit());
</script></body>""".encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser moved on (the form's navigation)


@pytest.fixture
def attacker() -> Iterator[Callable[[str], str]]:
    """Serves the attacker's page against a target origin (http://127.0.0.1:PORT), at
    http://localhost:ITS_PORT/: another origin (and site) for the browser."""
    servers: list[ThreadingHTTPServer] = []
    threads: list[threading.Thread] = []

    def serve(target: str) -> str:
        handler = type("Attacker", (_AttackerPage,), {"target": target})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return f"http://localhost:{server.server_address[1]}/"

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(10)
