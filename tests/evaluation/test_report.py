"""`vae report` opened in a real headless Chromium: every image decodes and the page fetches nothing.

Debian's chromium and chromium-driver (.ci/run installs them); with CI set, their absence fails.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import ok, tiny_config

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser():
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        message = f"no headless browser ({CHROMIUM}, {CHROMEDRIVER}); apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every network request, as DevTools sees it
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_report_renders_every_image_and_requests_nothing_outside_itself(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(name="page", train={"epochs": 2})))
    runs = tmp_path / "runs"
    ok("train", config, "--runs-dir", runs, "-q")
    ok("latent-stats", "page", "--runs-dir", runs)
    ok("report", "page", "--runs-dir", runs)
    page = runs / "page" / "report.html"

    driver = _browser()
    try:
        driver.get(page.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images, image => [image.alt, image.complete, image.naturalWidth])"
        )
        requests = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    finally:
        driver.quit()

    # loss curve, grids of both epochs, the three latent-stats plots
    assert len(images) >= 6, images
    assert all(complete and width > 0 for _, complete, width in images), images
    fetched = {
        event["params"]["request"]["url"] for event in requests if event["method"] == "Network.requestWillBeSent"
    }
    outside = {url for url in fetched if not url.startswith("data:") and url != page.as_uri()}
    assert page.as_uri() in fetched and not outside, fetched
