"""Stage dues in a real browser against a real server: the bar counts down to the stay's
deadline and turns overdue the moment the server tells it, the board marks the card in
words, and the records list filters overdue records."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import axe_violations, needs_browser, open_page
from playwright.sync_api import expect
from serving import Server, graphql, graphql_as, start_server, stop_server

pytestmark = needs_browser
expect.set_options(timeout=10_000)

IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
  __typename ... on ProcessImported { process { id } } } }"""
CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  ... on RecordCreated { record { id } } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
  ... on InstanceStarted { instance { id dueAt overdue } } } }"""
TOLD = """query($id: ID!) { events(instanceId: $id, kinds: [STAGE_OVERDUE]) { seq toStage } }"""

# A check due a few seconds after it begins: long enough to see it counting down.
QUICK = {
    "key": "quick-check",
    "name": "Quick check",
    "entity": "opportunity",
    "stages": [
        {
            "key": "check",
            "name": "Check",
            "category": "QUALIFY",
            "due": "PT8S",
            "steps": [{"field": "estimated_budget", "required": False}],
            "next": "decide",
        },
        {"key": "decide", "name": "Decide", "category": "CLOSE", "due": "P3D", "steps": []},
    ],
}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """The demo, looking for stays past their due every half second."""
    running = start_server(
        database_url,
        tmp_path / "server.log",
        extra_env={"STAGEFLOW_OVERDUE_INTERVAL_SECONDS": "0.5"},
    )
    yield running
    stop_server(running)


def _quick_check(server: Server, name: str) -> tuple[str, str, str]:
    """A record of ana's started on the quick check: (process, record, instance)."""
    imported = graphql(server, IMPORT, input={"definition": QUICK, "publish": True})
    process = imported["importProcess"]["process"]["id"]  # type: ignore[index]
    created = graphql_as(
        server, "ana", CREATE, input={"entity": "opportunity", "name": name, "values": {}}
    )
    record = created["createRecord"]["record"]["id"]
    started = graphql_as(server, "ana", START, input={"recordId": record, "processId": process})
    instance = started["startInstance"]["instance"]
    assert instance["dueAt"] is not None and instance["overdue"] is False
    return process, record, instance["id"]


def test_the_bar_turns_overdue_when_the_server_tells_it(server: Server, browser: Any) -> None:
    _, record, instance = _quick_check(server, "Litware - 3 scanners")
    page, errors = open_page(browser, f"{server.url}/#/records/{record}", user="ana")
    page.wait_for_selector("#live-state[data-state='open']")
    due = page.locator(".bar .stage[aria-current='step'] .due")
    expect(due).to_have_text("Due in less than a minute")
    expect(due).not_to_have_class("due overdue")
    assert axe_violations(page) == []

    # The page's own clock ticks every 30 seconds: only the server's event turns it this soon.
    expect(
        page.locator(".notice", has_text="Litware - 3 scanners is overdue in Check")
    ).to_be_visible()
    expect(due).to_have_class("due overdue")
    expect(due).to_have_text("Overdue by less than a minute")
    assert [e["toStage"] for e in graphql(server, TOLD, id=instance)["events"]] == ["check"]  # type: ignore[index]
    assert axe_violations(page) == []

    # Moving on begins a stay with its own due, days away.
    page.get_by_role("button", name="Next stage → Decide").click()
    expect(page.locator(".bar .stage[aria-current='step'] .due")).to_have_text("Due in 2 days")
    expect(page.locator(".bar .due.overdue")).to_have_count(0)
    assert errors == []


def test_the_board_and_the_records_list_mark_overdue_records(server: Server, browser: Any) -> None:
    process, record, instance = _quick_check(server, "Proseware - 40 headsets")
    expect_told(server, instance)

    page, errors = open_page(browser, f"{server.url}/#/board/{process}", user="ana")
    page.wait_for_selector("#live-state[data-state='open']")
    late = page.locator(".card", has_text="Proseware - 40 headsets")
    expect(late).to_have_class("card overdue")
    expect(late.locator(".overdue-flag")).to_have_text("⚑ Overdue by less than a minute")
    # Said in words, not only by colour: the flag's text is part of the card's reading.
    expect(late.get_by_text("Overdue by less than a minute")).to_be_visible()
    assert axe_violations(page) == []

    page.goto(f"{server.url}/#/records")
    page.wait_for_selector("tbody tr")
    page.select_option("#filter-overdue", "true")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr a")).to_have_text("Proseware - 40 headsets")
    expect(page.locator("tbody tr .overdue-tag")).to_have_text(" Overdue by less than a minute")
    expect(page.locator(".records-status .status")).to_have_text("1 record")
    page.select_option("#filter-overdue", "false")
    expect(page.locator(f"tbody tr[data-record='{record}']")).to_have_count(0)
    expect(page.locator("tbody tr")).not_to_have_count(0)
    assert axe_violations(page) == []
    assert errors == []


def expect_told(server: Server, instance: str) -> None:
    """Wait until the server has told the stay overdue."""
    deadline = time.monotonic() + 30
    while not graphql(server, TOLD, id=instance)["events"]:  # type: ignore[index]
        assert time.monotonic() < deadline, "the stay was never told overdue"
        time.sleep(0.2)


DESIGN = """query($id: ID!) { design(processId: $id) { definition problems { path message } } }"""


def test_a_designer_sets_clears_and_is_told_about_a_stage_due(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    form = page.locator("form", has=page.get_by_role("heading", name="Start from a template"))
    form.get_by_role("radio", name="Opportunity Sales").check()
    form.get_by_label("Key of the new process").fill("timed-sales")
    form.get_by_role("button", name="Start from template").click()
    page.wait_for_url(re.compile(r"#/designer/\d+$"))
    process_id = page.url.rsplit("/", 1)[1]
    qualify = page.locator('[data-path="stages[0]"]')
    develop = page.locator('[data-path="stages[1]"]')
    due = qualify.get_by_label("Due", exact=True)
    business = qualify.get_by_label("Count business days only (Monday to Friday, UTC)")
    expect(due).to_have_value("P5D")
    expect(business).to_be_checked()

    due.fill("P1M")
    page.get_by_role("button", name="Validate").click()
    problem = page.locator('[data-path="stages[0].due"] .d-problem')
    expect(problem).to_have_text(
        "“Due” counts weeks, days, hours or minutes, not months or years (their lengths vary)"
    )
    expect(due).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []

    due.fill("PT4H")
    business.uncheck()
    cleared = develop.get_by_label("Due", exact=True)
    cleared.fill("")
    expect(
        develop.get_by_label("Count business days only (Monday to Friday, UTC)")
    ).to_be_disabled()
    page.get_by_role("button", name="Validate").click()
    expect(page.locator(".d-status")).to_have_text("No problems: the draft can be published.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".d-status")).to_have_text("Draft saved.")
    design = graphql(server, DESIGN, id=process_id)["design"]
    stages = design["definition"]["stages"]  # type: ignore[index]
    assert (stages[0]["due"], "due_business_days" in stages[0]) == ("PT4H", False)
    assert "due" not in stages[1] and "due_business_days" not in stages[1]
    assert stages[2]["due"] == "P7D"
    assert design["problems"] == []  # type: ignore[index]
    assert errors == []
