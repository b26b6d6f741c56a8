"""Browser tests: Playwright drives Debian's Chromium against pytest-django's
live_server. Each step can be saved as a screenshot under test-artifacts/browser/.

Chromium comes from the system (`make browser`, scripts/ensure_browser.sh), never
from `playwright install`. Without it these tests fail, they are never skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
TIMEOUT_MS = 15_000


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator:
    """Debian's Chromium under Playwright (`extra_args`: more command-line switches).
    While Playwright's sync API runs, an asyncio loop counts as running in this
    thread, so Django's ORM (factories, the database flush between tests) would
    refuse to run here without DJANGO_ALLOW_ASYNC_UNSAFE; it is set only for as long
    as the browser lives."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need it. "
            "Run `make browser` (scripts/ensure_browser.sh) or "
            "`apt-get install -y chromium`. Never `playwright install`.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt has it
        pytest.fail(
            "Playwright is not installed: `pip install -r requirements-dev.txt`.",
            pytrace=False,
        )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per test module."""
    with chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _checkout_limits_out_of_the_way(settings):
    """Every checkout here comes from 127.0.0.1, like the rest of the suite's, and the
    hourly counters live in the run's Redis: these tests are not about abuse limits
    (bookings/tests/test_abuse.py is), so they must not trip them."""
    settings.CHECKOUT_HOLDS_PER_IP_PER_HOUR = 10_000
    settings.CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR = 10_000
    settings.CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = 10_000


def _block_outside(route) -> None:
    """Only the live server is reachable: js.stripe.com and anything else off this
    machine is refused at once instead of hanging the page."""
    host = urlsplit(route.request.url).hostname or ""
    if host in LOCAL_HOSTS or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort("blockedbyclient")


@pytest.fixture
def new_page(browser, request):
    """`new_page(locale="en-GB")`: a page in a fresh browser context (own cookies,
    Accept-Language from `locale`), closed after the test."""
    contexts = []

    def make(locale: str = "en-GB"):
        context = browser.new_context(
            locale=locale, viewport={"width": 1200, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", _block_outside)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    """A page on a phone (390×844, touch), in its own browser context."""
    context = browser.new_context(
        locale="en-GB",
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _block_outside)
    yield context.new_page()
    context.close()


@pytest.fixture
def shoot(request) -> Iterator:
    """`shoot(page, "name")` saves a full-page PNG as
    test-artifacts/browser/<test>/<NN>-<name>.png and returns its path."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    counter = iter(range(1, 100))

    def save(page, name: str) -> Path:
        slug = re.sub(r"[^\w.-]+", "-", name)
        path = folder / f"{next(counter):02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
