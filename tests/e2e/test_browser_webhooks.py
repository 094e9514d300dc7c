"""Webhooks in a real browser: a designer registers one and sees its secret once, pauses and
resumes it, reads its delivery log and sends a failed delivery again, then removes it;
the page is accessible throughout and hidden from users who do not design."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import axe_violations, confirm, needs_browser, open_page
from playwright.sync_api import Page, expect
from serving import Server, graphql, start_server, stop_server
from tables import add_delivery, rows

pytestmark = needs_browser
expect.set_options(timeout=10_000)

URL = "https://hooks.example.com/crm"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A server that does not send: the delivery log here is written by the test."""
    running = start_server(
        database_url, tmp_path / "server.log", extra_env={"STAGEFLOW_WEBHOOK_SENDER": "0"}
    )
    yield running
    stop_server(running)


WEBHOOKS = "{ webhooks { id url status pausedReason topics processIds stages version } }"


def _webhooks(server: Server) -> list[dict[str, Any]]:
    return graphql(server, WEBHOOKS)["webhooks"]  # type: ignore[return-value]


def _status(page: Page) -> Any:
    return page.locator("#view").get_by_role("status").first


def test_a_designer_registers_pauses_resumes_and_redelivers(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/#/webhooks", user="designer")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks")
    expect(nav).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    database_url = server.env["STAGEFLOW_DATABASE_URL"]

    form = page.get_by_role("form", name="New webhook")
    form.get_by_label("URL").fill(URL)
    form.get_by_label("Description (optional)").fill("CRM sync")
    # No kind of event chosen: said at once, nothing sent.
    form.get_by_role("button", name="Register webhook").click()
    expect(form.get_by_role("alert")).to_have_text("Choose at least one kind of event.")
    assert _webhooks(server) == []
    form.get_by_label("Stage entered").check()
    form.get_by_label("Finished").check()
    form.get_by_label("Opportunity Sales (opportunity)").check()
    expect(form.locator("#wh-new-stages-hint")).to_contain_text("develop")
    form.get_by_label("Stages").fill("nowhere")
    form.get_by_role("button", name="Register webhook").click()
    expect(form.get_by_role("alert")).to_contain_text("nowhere")
    assert _webhooks(server) == []
    form.get_by_label("Stages").fill("develop, propose")
    form.get_by_role("button", name="Register webhook").click()

    # The secret, once: focused for copying, with the warning, and as the server keeps it.
    secret_box = page.get_by_label("Signing secret of " + URL)
    expect(secret_box).to_be_focused()
    secret = secret_box.input_value()
    assert secret.startswith("whsec_")
    expect(page.get_by_role("note")).to_contain_text("it will not be shown again")
    expect(page.get_by_role("button", name="Copy secret")).to_be_visible()
    [webhook] = _webhooks(server)
    assert (webhook["url"], webhook["stages"], webhook["topics"]) == (
        URL,
        ["develop", "propose"],
        ["FINISHED", "STAGE_ENTERED"],
    )
    assert rows(database_url, "SELECT secret FROM webhook WHERE id = ?", int(webhook["id"])) == [
        (secret,)
    ]
    card = page.locator(f"[data-webhook='{webhook['id']}']")
    expect(card.get_by_role("heading", name="CRM sync")).to_be_visible()
    expect(card).to_contain_text("Opportunity Sales")
    page.get_by_role("button", name="I have kept it").click()
    expect(page.get_by_label("Signing secret of " + URL)).to_have_count(0)
    page.reload()
    expect(card.get_by_role("heading", name="CRM sync")).to_be_visible()
    assert secret not in page.content()

    # Paused by a person: the card says so, prominently, with Resume at hand.
    card.get_by_role("button", name="Pause CRM sync").click()
    expect(card.locator(".webhook-paused")).to_contain_text("Paused: Paused by designer")
    expect(card.get_by_role("button", name="Resume CRM sync")).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Paused CRM sync.")
    assert _webhooks(server)[0]["status"] == "PAUSED"
    assert axe_violations(page) == []
    card.get_by_role("button", name="Resume CRM sync").click()
    expect(card.locator(".webhook-paused")).to_have_count(0)
    expect(card.locator(".badge")).to_have_text("Active")
    assert _webhooks(server)[0]["status"] == "ACTIVE"

    # A delivery the sender gave up on, in the log; sent again with its id.
    uid = str(uuid.uuid4())
    add_delivery(database_url, int(webhook["id"]), uid, seq=42, state="FAILED")
    card.get_by_role("button", name="Show deliveries of CRM sync").click()
    row = card.locator(f"tr[data-delivery='{uid}']")
    expect(row).to_contain_text("Stage advanced")
    expect(row.locator("td").nth(2)).to_have_text("42")
    expect(row.locator("td").nth(3)).to_have_text("Failed")
    expect(row.locator("td").nth(4)).to_have_text("500")
    expect(row.locator("td").nth(5)).to_have_text("120 ms")
    expect(row.locator("td").nth(8)).to_have_text("server error")
    assert axe_violations(page) == []
    row.get_by_role("button", name="Redeliver event 42").click()
    expect(row.locator("td").nth(3)).to_have_text("Pending")
    expect(row.get_by_role("button", name="Redeliver event 42")).to_be_disabled()
    expect(row.locator("td").nth(3)).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Event 42 will be delivered again.")
    assert rows(
        database_url, "SELECT state, attempts FROM webhook_delivery WHERE uid = ?", uid
    ) == [("PENDING", 3)]

    # Changed in place, then removed on confirmation.
    card.get_by_role("button", name="Edit CRM sync").click()
    edit = page.get_by_role("form", name=f"Change {URL}")
    expect(edit.get_by_label("URL")).to_be_focused()
    edit.get_by_label("Description (optional)").fill("CRM sync v2")
    edit.get_by_role("button", name="Save changes").click()
    expect(card.get_by_role("heading", name="CRM sync v2")).to_be_focused()
    assert _webhooks(server)[0]["version"] == 4  # created, paused, resumed, changed
    card.get_by_role("button", name="Delete CRM sync v2").click()
    confirm(page, "Delete")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("Deleted CRM sync v2.")
    assert _webhooks(server) == []
    assert axe_violations(page) == []
    assert errors == []


def test_webhooks_are_not_offered_to_users_who_do_not_design(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/#/webhooks", user="ana")
    expect(page.get_by_role("alert")).to_have_text("Only designers and admins manage webhooks.")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Records")).to_be_visible()
    expect(nav.get_by_role("link", name="Webhooks")).to_be_hidden()
    assert errors == []
