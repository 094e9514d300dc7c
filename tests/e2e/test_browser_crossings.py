"""Lead to Opportunity in the browser: a lead qualified in its bar goes on to the opportunity
the crossing makes, whose page shows the same bar (the lead's stages marked as the lead's),
and the opportunity is worked there to Close; the lead's page shows the run as it ended."""

from __future__ import annotations

from typing import Any

from browsing import axe_violations, choose, confirm, needs_browser, screenshot
from opportunities import ADVANCE, CREATE, START, open_record, wait_for_active
from playwright.sync_api import expect
from serving import Server, graphql_as

pytestmark = needs_browser
expect.set_options(timeout=10_000)

PROCESSES = "{ processes { id key } }"
RUN = """query($id: ID!) { instance(id: $id) { status outcome { key }
  records { entity record { id name values } } } }"""
# Past Qualify and Identify; a referral goes to the qualification call.
LEAD = {
    "contact_name": "Ada Byron",
    "company_name": "Litware",
    "email": "ada@litware.example",
    "source": "Referral",
    "interest": "Tablets for the field team",
    "budget_amount": "20000.00",
    "purchase_timeframe": "This quarter",
    "qualification_call_date": "2026-11-30",
    "qualification_call_notes": "Needs 20 tablets by spring",
}


def step(page: Any, key: str, value: str) -> None:
    """Type a step's value and leave the field, as a user does; wait until it saved."""
    field = page.locator(f"#step-{key}")
    field.fill(value)
    field.press("Tab")
    expect(page.locator(f"[data-step='{key}'] .step-note")).to_have_text("✓ Saved")


def yes(page: Any, key: str) -> None:
    choose(page, f"#step-{key}", "true")
    expect(page.locator(f"[data-step='{key}'] .step-note")).to_have_text("✓ Saved")


def test_a_lead_qualified_in_the_bar_goes_on_as_its_opportunity(
    server: Server, browser: Any
) -> None:
    processes = graphql_as(server, "ana", PROCESSES)["processes"]
    process = next(p["id"] for p in processes if p["key"] == "lead-to-opportunity")
    created = graphql_as(
        server, "ana", CREATE, input={"entity": "lead", "name": "Litware tablets", "values": LEAD}
    )
    lead = created["createRecord"]["record"]["id"]
    spare = {"entity": "opportunity", "name": "Litware - spare tablets", "values": {}}
    other = graphql_as(server, "ana", CREATE, input=spare)["createRecord"]["record"]["id"]
    started = graphql_as(server, "ana", START, input={"recordId": lead, "processId": process})
    instance = started["startInstance"]["instance"]["id"]
    for _ in range(2):
        moved = graphql_as(server, "ana", ADVANCE, input={"instanceId": instance})
        assert moved["advanceStage"]["__typename"] == "StageAdvanced", moved

    page, errors = open_record(server, browser, lead)
    wait_for_active(page, "Qualification call")
    # The opportunity's stages say whose they are; the lead's, on the lead, do not.
    develop = page.locator("ol.bar > li[data-stage='develop']")
    expect(develop.locator(".entity")).to_have_text("Opportunity")
    expect(page.locator("ol.bar > li[data-stage='qualify'] .entity")).to_have_count(0)
    next_stage = page.get_by_role("button", name="Next stage")
    expect(next_stage).to_have_attribute("aria-disabled", "true")
    yes(page, "qualified")
    expect(next_stage).to_have_text("Next stage → Develop (new Opportunity)")
    # A name typed suggests the opportunities it matches, by id.
    page.get_by_label("or link an existing Opportunity (id, or type its name)").press_sequentially(
        "spare tab"
    )
    expect(page.locator("#link-choices option")).to_have_count(1)
    expect(page.locator("#link-choices option")).to_have_attribute("value", other)
    expect(page.locator("#link-choices option")).to_have_attribute(
        "label", "Litware - spare tablets"
    )
    next_stage.click()

    # The crossing made the opportunity, and the page went on to it: the same bar.
    run = graphql_as(server, "ana", RUN, id=instance)["instance"]
    opportunity = run["records"][1]["record"]
    assert run["records"][0]["record"]["id"] == lead
    assert opportunity["values"]["company_name"] == "Litware"
    assert opportunity["values"]["originating_lead"] == int(lead)
    expect(page).to_have_url(f"{server.url}/#/records/{opportunity['id']}")
    wait_for_active(page, "Develop")
    expect(page.locator("h1#record-name")).to_have_text("Litware tablets")
    expect(page.locator("ol.bar > li[data-stage='fast_track'] .entity")).to_have_text("Lead")
    expect(page.locator("ol.bar > li[data-stage='develop'] .entity")).to_have_count(0)
    # A lead stage opened here leads back to the lead, its steps shown as they stand.
    page.locator("#stage-fast_track").click()
    expect(page.locator("#works-on")).to_have_attribute("href", f"#/records/{lead}")
    expect(page.locator("#step-qualified")).to_be_disabled()
    page.locator("#stage-develop").click()

    step(page, "customer_need", "Twenty rugged tablets")
    step(page, "estimated_close_date", "2027-02-15")
    page.get_by_role("button", name="Next stage → Propose").click()
    wait_for_active(page, "Propose")
    yes(page, "develop_proposal")
    yes(page, "present_proposal")
    page.get_by_role("button", name="Next stage → Close").click()
    wait_for_active(page, "Close")
    yes(page, "present_final_proposal")
    page.get_by_role("button", name="Finish").click()
    confirm(page, "Finish")  # Won, the first outcome
    expect(page.locator("#process-status")).to_contain_text("Finished · Won by ana on ")
    screenshot(page, "record-crossed")
    assert axe_violations(page) == []

    run = graphql_as(server, "ana", RUN, id=instance)["instance"]
    assert (run["status"], run["outcome"]) == ("FINISHED", {"key": "won"})
    # The lead shows the run as it ended, on the opportunity's Close.
    page.goto(f"{server.url}/#/records/{lead}")
    expect(page.locator("h1#record-name")).to_have_text("Litware tablets")
    expect(page.locator("#process-status")).to_contain_text("Finished · Won by ana on ")
    expect(page.locator("ol.bar > li.finished[data-stage='close'] .entity")).to_have_text(
        "Opportunity"
    )
    assert errors == []
