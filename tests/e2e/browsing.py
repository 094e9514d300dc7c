"""Debian's Chromium driven by Playwright, for the browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from server.services.seed import DEMO_PASSWORD

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
ROOT = Path(__file__).resolve().parents[2]
# The README's pictures are renewed by `make screenshots`; a plain test run leaves them be
# and writes its own under test-results/, which git ignores.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("STAGEFLOW_SCREENSHOTS")
    else ROOT / "test-results" / "screenshots"
)

# In CI a missing browser is a failure, not a skip.
needs_browser = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not os.environ.get("CI"),
        reason="Chromium is not installed: run `apt-get update && apt-get install -y chromium` "
        "to run the browser tests",
    ),
]


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


SIGN_IN = """mutation($input: SignInInput!) { signIn(input: $input) { __typename } }"""


def sign_in(context: Any, base: str, user: str, password: str = DEMO_PASSWORD) -> None:
    """Sign a browser context in as a demo user: the session cookie lands in the context."""
    variables = {"input": {"name": user, "password": password}}
    answer = context.request.post(
        f"{base}/graphql", data={"query": SIGN_IN, "variables": variables}
    ).json()
    assert answer["data"]["signIn"]["__typename"] == "SignedIn", answer


def open_page(browser: Any, url: str, user: str | None = "demo") -> tuple[Any, list[str]]:
    """A page in a context of its own, signed in as `user` (None: nobody); the list
    collects page errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    if user is not None:
        sign_in(context, url.split("/#")[0].rstrip("/"), user)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    page.goto(url)
    return page, errors


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
