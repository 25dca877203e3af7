"""A real browser for the web mixer's tests: Debian's chromium, headless, driven by selenium and chromium-driver.

``scripts/install test`` installs both. When STEMHOST_LIVE_TESTS=required (scripts/test) a missing browser fails
the tests; elsewhere they are skipped. Each browser gets a fresh profile in tmp, so no state leaks between runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)  # CSS px, an iPhone 12–15's viewport
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (scripts/install test, or apt-get install chromium chromium-driver)"
    return None


def need_browser() -> None:
    """Fail (STEMHOST_LIVE_TESTS=required) or skip when there is no browser to drive."""
    missing = _missing()
    if missing:
        if os.environ.get("STEMHOST_LIVE_TESTS") == "required":
            pytest.fail(f"browser tests need chromium: {missing}")
        pytest.skip(f"browser tests need chromium: {missing}")


def launch(size: tuple[int, int] = DESKTOP, phone: bool = False, profile: Path | None = None):
    """A new headless chromium with its own profile; phone=True emulates a 390x844 touch screen at DPR 3."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = profile or Path(tempfile.mkdtemp(prefix="stemhost-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    if phone:
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": size[0], "height": size[1], "pixelRatio": 3.0, "touch": True, "mobile": True}},
        )
    else:
        options.add_argument(f"--window-size={size[0]},{size[1]}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    if not phone:
        # --window-size sets the outer window; make the viewport itself the size asked for
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(2 * size[0] - inner[0], 2 * size[1] - inner[1])
    driver._stemhost_profile = profile  # removed by close()
    return driver


def close(driver) -> None:
    """Quit the browser and remove its profile."""
    profile = getattr(driver, "_stemhost_profile", None)
    try:
        driver.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path, once it is known to be there (else fail or skip, see :func:`need_browser`)."""
    need_browser()
    return CHROMIUM


@pytest.fixture
def browsers(chromium, tmp_path) -> Iterator[Callable]:
    """A factory: browsers(phone=False) opens one more headless chromium; all are closed at the end."""
    opened = []

    def make(phone: bool = False):
        driver = launch(PHONE if phone else DESKTOP, phone=phone, profile=tmp_path / f"profile-{len(opened)}")
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        close(driver)


@pytest.fixture
def browser(browsers):
    """One desktop browser (1280x900 viewport)."""
    return browsers()


@pytest.fixture
def phone(browsers):
    """One phone browser: a 390x844 CSS px touch viewport."""
    return browsers(phone=True)
