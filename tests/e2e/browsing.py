"""Debian's Chromium driven by Playwright, for the browser tests."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
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

# axe-core, the accessibility checker the browser tests run in the page: installed from the
# npm registry on first use into a git-ignored folder, never committed.
AXE_PACKAGE = "axe-core@4"
AXE_PREFIX = ROOT / "tests" / "e2e" / ".cache" / "axe-core"
AXE_SCRIPT = AXE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"

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


def axe_script() -> Path:
    """axe-core's browser script, installed once; an install that fails fails the test."""
    AXE_PREFIX.mkdir(parents=True, exist_ok=True)
    # Test processes started at once install it once: the others wait for the first.
    with open(AXE_PREFIX / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_SCRIPT.exists():
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-package-lock",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(AXE_PREFIX),
                    AXE_PACKAGE,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
    return AXE_SCRIPT


def axe_violations(page: Any, serious: bool = True) -> list[dict[str, Any]]:
    """What axe-core finds wrong with the page as it stands: by default only the violations
    of impact serious or critical, each with its rule id, impact, help and the nodes' targets."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe_script()))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const { violations } = await axe.run(document, { resultTypes: ["violations"] });
            return violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((node) => node.target.join(" ")),
            }));
        }"""
    )
    if serious:
        return [v for v in found if v["impact"] in ("serious", "critical")]
    return found


_MUTATION = re.compile(r"\s*mutation\b[^{]*\{\s*(\w+)")


def mutation_name(request: Any) -> str | None:
    """The mutation a request of the page posts to /graphql, if any."""
    if request.method != "POST" or not request.url.endswith("/graphql"):
        return None
    found = _MUTATION.match(request.post_data_json.get("query", ""))
    return found.group(1) if found else None


def sent_mutations(page: Any) -> list[tuple[str, dict[str, Any]]]:
    """A list that fills with (mutation, input) for every mutation the page posts, each
    attempt counted."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(request: Any) -> None:
        name = mutation_name(request)
        if name is not None:
            sent.append((name, request.post_data_json["variables"].get("input") or {}))

    page.on("request", record)
    return sent


class Held:
    """Holds the page's requests of one mutation, unsent, until `release()`."""

    def __init__(self, page: Any, mutation: str) -> None:
        self.mutation = mutation
        self.routes: list[Any] = []
        self.holding = True
        page.route("**/graphql", self._route)

    def _route(self, route: Any) -> None:
        if self.holding and mutation_name(route.request) == self.mutation:
            self.routes.append(route)
        else:
            route.fallback()

    def release(self) -> None:
        self.holding = False
        for route in self.routes:
            route.continue_()


def choose(page: Any, selector: str, *values: str, **by: str) -> None:
    """Pick an option of a step's select and confirm it with Enter, as a keyboard user does:
    a select saves only when confirmed."""
    select = page.locator(selector)
    select.focus()
    select.select_option(*values, **by)
    select.press("Enter")


def confirm(page: Any, button: str) -> None:
    """Press `button` in the dialog the page asks its question in."""
    page.get_by_role("dialog").get_by_role("button", name=button, exact=True).click()


def inert(locator: Any) -> bool:
    """Whether a move is shown as not possible now (focusable, but says why)."""
    return bool(locator.get_attribute("aria-disabled") == "true")
