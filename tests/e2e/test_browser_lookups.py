"""A lookup step on the record page: the user types the id of a record, and the page links to
that record by its name; a value that is no record id is refused next to the step."""

from __future__ import annotations

from typing import Any

from browsing import axe_violations, needs_browser
from opportunities import CREATE, START, open_record
from playwright.sync_api import expect
from serving import Server, graphql, graphql_as

pytestmark = needs_browser
expect.set_options(timeout=10_000)

IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
  __typename ... on ProcessImported { process { id } } } }"""
LEAD_CHECK = {
    "key": "lead-check",
    "name": "Lead Check",
    "entity": "opportunity",
    "stages": [
        {
            "key": "qualify",
            "name": "Qualify",
            "category": "QUALIFY",
            "steps": [{"field": "originating_lead", "required": True}],
            "next": "close",
        },
        {"key": "close", "name": "Close", "category": "CLOSE", "steps": []},
    ],
}


def _create(server: Server, entity: str, name: str) -> str:
    created = graphql_as(
        server, "ana", CREATE, input={"entity": entity, "name": name, "values": {}}
    )
    return created["createRecord"]["record"]["id"]  # type: ignore[no-any-return]


def test_a_lookup_step_links_to_its_record(server: Server, browser: Any) -> None:
    imported = graphql(server, IMPORT, input={"definition": LEAD_CHECK, "publish": True})
    process_id = imported["importProcess"]["process"]["id"]  # type: ignore[index]
    lead = _create(server, "lead", "Litware inbound")
    record = _create(server, "opportunity", "Litware - 20 tablets")
    graphql_as(server, "ana", START, input={"recordId": record, "processId": process_id})
    page, errors = open_record(server, browser, record)

    step = page.locator("[data-step='originating_lead']")
    field = page.get_by_label("Originating lead")
    field.fill("twelve")
    field.press("Tab")
    expect(step.locator(".step-note")).to_have_text("Originating lead must be a record id")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(step.get_by_role("link")).to_have_count(0)

    field.fill(lead)
    field.press("Tab")
    expect(step.locator(".step-note")).to_have_text("✓ Saved")
    link = step.get_by_role("link", name="Litware inbound")
    expect(link).to_have_attribute("href", f"#/records/{lead}")
    details = page.locator(".details dd[data-field='originating_lead']")
    expect(details.get_by_role("link", name="Litware inbound")).to_be_visible()
    assert axe_violations(page) == []

    link.click()
    expect(page.locator("#record-name")).to_have_text("Litware inbound")
    assert errors == []
