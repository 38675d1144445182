"""The dashboard in a real browser: one headless Chromium for these tests (the machine's, never a downloaded one)
over the session's API (`api`, tests/serve/conftest.py). Each test gets a fresh tab at 1366x768 that records
console errors, page errors, failed requests, answers >= 400 and every URL asked; a tab that saw a problem the
test did not expect fails the test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest


# package scope: Playwright's sync API runs an event loop on the main thread while it is open, so it must
# close with the last dashboard test (asyncio.run and another sync_playwright fail while it runs)
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("no chromium on PATH: the dashboard tests drive the machine's browser (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@dataclass
class Tab:
    page: object
    base: str
    problems: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # substrings of problems the test expects

    def open(self, path: str):
        """Go to `path` and wait until the page says it is drawn (body[data-ready])."""
        self.urls.clear()
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=15_000)
        return self.page

    def api_calls(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).path.startswith("/api/")]

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a in p for a in self.allowed)]


@contextmanager
def open_tab(browser, base: str) -> Iterator[Tab]:
    """A fresh browser context at 1366x768 on `base`; fails on any problem the test did not allow."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    t = Tab(page=page, base=base)
    page.on("console", lambda m: m.type == "error" and t.problems.append(f"console error: {m.text} ({m.location})"))
    page.on("pageerror", lambda e: t.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: t.problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and t.problems.append(f"HTTP {r.status}: {r.url}"))
    page.on("request", lambda r: t.urls.append(r.url))
    try:
        yield t
    finally:
        context.close()
    assert not t.unexpected(), "the dashboard had problems:\n" + "\n".join(t.unexpected())


@pytest.fixture
def tab(browser, api) -> Iterator[Tab]:
    with open_tab(browser, api) as t:
        yield t
