"""The page served at / loads in a real browser and shows the processes from the API."""

from __future__ import annotations

import os
import shutil

import pytest
from serving import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    # In CI a missing browser is a failure, not a skip.
    pytest.mark.skipif(
        shutil.which("chromium") is None and not os.environ.get("CI"),
        reason="Chromium is not installed: run `apt-get install -y chromium` to run browser tests",
    ),
]


def test_page_lists_processes_with_their_stages(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url + "/")
            page.wait_for_selector("#processes > li")
            names = page.locator(".process h3").all_text_contents()
            assert names[:2] == ["Opportunity Sales", "Enterprise Deal"]
            stages = page.locator("[data-process='1'] .bar li").all_text_contents()
            assert stages == ["Qualify", "Develop", "Propose", "Close"]
            assert page.locator("#status").text_content() == f"{len(names)} processes"
            assert errors == []
        finally:
            browser.close()
