"""The status page in a real browser (Debian's Chromium driven by Playwright) at phone and
desktop widths, during an active SEV1 and after its closure: what a customer sees, with
screenshots kept under test-artifacts/status/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.conftest import World
from tests.web.conftest import serving
from tests.web.test_status_surface import close, declare_sev1, setup_page
from warroom.domain.updates import UpdateText
from warroom.services import coordination
from warroom.web.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "status"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def chromium_binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is required: scripts/test installs it", pytrace=False)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_binary(), args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def site(world: World) -> Iterator[httpx.Client]:
    world.runtime.settings.status_cache_seconds = 0
    setup_page(world)
    with serving(create_app(world.runtime)) as http:
        yield http


def look(browser: Browser, url: str, size: ViewportSize, shot: str) -> Page:
    context = browser.new_context(viewport=size, java_script_enabled=False)
    page = context.new_page()
    response = page.goto(url)
    assert response is not None
    assert response.status == 200
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page


def test_it_shows_customers_an_active_sev1_and_its_closure_on_phone_and_desktop(
    browser: Browser, site: httpx.Client, world: World, database_url: str
) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    number = declare_sev1(world)
    world.later(minutes=4).act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText("internal", "internal", "internal", "internal"),
            public=True,
            public_text="Some card payments fail. We are rolling back a change.",
        ),
    )
    url = f"{str(site.base_url).rstrip('/')}/status"
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page = look(browser, url, size, f"{backend}-active-{name}")
        banner = page.get_by_role("status").first
        assert banner.inner_text() == "Partial System Outage"
        active = page.get_by_role("region", name="Active incidents")
        assert active.get_by_role("heading", name="Partial outage affecting Checkout").is_visible()
        assert active.get_by_text("Some card payments fail.").is_visible()
        assert active.get_by_text("Next update by").is_visible()
        components = page.get_by_role("region", name="Components")
        assert components.get_by_text("Partial outage", exact=True).is_visible()
        assert components.get_by_text("Operational", exact=True).is_visible()  # Dashboard
        # Readable on a phone: nothing wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name}: the page is {width}px wide"
        assert page.locator("main").count() == 1
        assert page.locator("h1").count() == 1
        page.context.close()

    close(world, number)
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page = look(browser, url, size, f"{backend}-closed-{name}")
        assert page.get_by_role("status").first.inner_text() == "All Systems Operational"
        assert page.get_by_role("region", name="Active incidents").count() == 0
        past = page.get_by_role("region", name="Past incidents")
        assert past.get_by_role("heading", name="Partial outage affecting Checkout").is_visible()
        assert past.get_by_text("Resolved", exact=True).first.is_visible()
        link = past.get_by_role("link", name="Partial outage affecting Checkout")
        link.click()
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Partial outage affecting Checkout"
        )
        assert page.get_by_text("Some card payments fail.").is_visible()
        page.context.close()
