"""The process designer on processes across entities: the chain of entities, each crossing's
lookup and copied values, the entity each stage works on, and the server's problems about
them shown in place."""

from __future__ import annotations

import re
from typing import Any

from browsing import axe_violations, needs_browser, open_page, screenshot
from playwright.sync_api import Locator, Page, expect
from serving import Server, graphql
from test_browser_designer import assert_named_by_visible_text

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

PROCESSES = "{ processes { id key } }"
CREATE = """
mutation($input: CreateProcessInput!) {
  createProcess(input: $input) {
    ... on ProcessDraftSaved { draft { processId } } ... on Error { message }
  }
}"""
DESIGN = """
query($id: ID!) { design(processId: $id) { version definition problems { path message } } }"""
# Lead to Opportunity's values copied into the opportunity, as the form shows them.
MAP = [
    ("contact_name", "lead.contact_name"),
    ("company_name", "lead.company_name"),
    ("estimated_budget", "lead.budget_amount"),
    ("purchase_timeframe", "lead.purchase_timeframe"),
]


def at(page: Page, path: str) -> Locator:
    """The element of the designer that problems at `path` attach to."""
    return page.locator(f'[data-path="{path}"]')


def select_at(page: Page, path: str) -> Locator:
    return at(page, path).get_by_role("combobox")


def options(select: Locator) -> list[str]:
    return [text.strip() for text in select.locator("option").all_inner_texts()]


def process_id(server: Server, key: str) -> str:
    processes = graphql(server, PROCESSES)["processes"]
    return str(next(p["id"] for p in processes if p["key"] == key))


def create_draft(server: Server, **input: Any) -> str:
    made = graphql(server, CREATE, input=input)["createProcess"]
    assert "draft" in made, made
    return str(made["draft"]["processId"])


def design(server: Server, process: str) -> dict[str, Any]:
    return graphql(server, DESIGN, id=process)["design"]  # type: ignore[no-any-return]


def save(page: Page, status: str) -> None:
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".d-status")).to_have_text(status)


def test_the_designer_shows_lead_to_opportunity_across_its_entities(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(
        browser, f"{server.url}/#/designer/{process_id(server, 'lead-to-opportunity')}", "designer"
    )
    entities = page.get_by_role("region", name="Entities")
    expect(entities.get_by_role("heading", level=3)).to_have_text(["1. Lead", "2. Opportunity"])
    crossing = page.get_by_role("listitem", name="2. Opportunity")
    expect(crossing).to_have_attribute("data-path", "crossings[0]")
    # Only the opportunity's lookups to the lead relate the two.
    lookup = crossing.get_by_label("Lookup to Lead")
    expect(lookup).to_have_value("originating_lead")
    assert options(lookup) == ["Choose a lookup…", "Originating lead"]
    rows = crossing.get_by_role("group", name="Values copied into the new Opportunity")
    expect(rows.locator(".d-carry")).to_have_count(len(MAP))
    for j, (field, source) in enumerate(MAP):
        expect(select_at(page, f"crossings[0].map[{j}].field")).to_have_value(field)
        expect(select_at(page, f"crossings[0].map[{j}].from")).to_have_value(source)
    # A value comes only from a field of the same type.
    assert options(select_at(page, "crossings[0].map[2].from")) == [
        "Choose a field…",
        "Lead: Budget amount (Money)",
    ]
    # The only entity before the opportunity is the lead; the lookup itself is not refilled.
    assert "Originating lead (Lookup)" not in options(select_at(page, "crossings[0].map[0].field"))

    # Each stage works on one of the process's entities; the first one's is left unnamed.
    works_on = [select_at(page, f"stages[{i}].entity") for i in range(8)]
    for i, entity in enumerate(["lead"] * 4 + ["opportunity"] * 4):
        expect(works_on[i]).to_have_value(entity)
    assert options(works_on[4]) == ["Lead", "Opportunity"]
    develop = at(page, "stages[4]")
    expect(develop.get_by_role("heading", level=3)).to_have_text("5. Develop")
    expect(select_at(page, "stages[4].steps[0].field")).to_have_value("customer_need")
    # Develop's steps are the opportunity's fields, Qualify's the lead's.
    develop_fields = options(develop.get_by_label("Add a step"))
    assert "Estimated budget (Money)" in develop_fields
    assert "Budget amount (Money)" not in develop_fields
    assert "Budget amount (Money)" in options(at(page, "stages[0]").get_by_label("Add a step"))

    # A branch of Develop tests the lead's budget, named with its entity; a branch of a
    # stage on the lead has no earlier record to read.
    develop_branch = at(page, "stages[4].branches[0].when").get_by_label("Field", exact=True)
    expect(develop_branch).to_have_value("lead.budget_amount")
    expect(develop_branch.locator("option:checked")).to_have_text("Lead: Budget amount (Money)")
    assert "Customer need (Text)" in options(develop_branch)
    identify_when = at(page, "stages[1].branches[0].when.any[0]")
    identify_fields = options(identify_when.get_by_label("Field", exact=True))
    assert "Budget amount (Money)" in identify_fields
    assert not [text for text in identify_fields if text.startswith("Lead: ")]
    drawing = page.locator(".d-drawing")
    expect(
        drawing.get_by_role("img", name=re.compile(r"^Branch 1 of Develop: when Lead: Budget"))
    ).to_have_count(1)
    assert assert_named_by_visible_text(page) > 100
    assert axe_violations(page) == []
    screenshot(page, "designer-crossings")
    assert errors == []


def test_breaking_and_fixing_a_crossing_and_a_stage_entity(server: Server, browser: Any) -> None:
    copy = create_draft(server, template="lead-to-opportunity", key="lead-copy")
    page, errors = open_page(browser, f"{server.url}/#/designer/{copy}", "designer")
    crossing = page.get_by_role("listitem", name="2. Opportunity")
    expect(crossing.locator(".d-carry")).to_have_count(4)

    # A new value to copy: the sources are the lead's fields of the field's type. A lead's
    # source has choices the deal size lacks, which the server refuses.
    crossing.get_by_role("button", name="Add a value").click()
    field = select_at(page, "crossings[0].map[4].field")
    expect(field).to_be_focused()
    source = select_at(page, "crossings[0].map[4].from")
    assert options(source) == ["Choose the field first"]
    field.select_option(label="Deal size (Choice)")
    assert options(source) == [
        "Choose a field…",
        "Lead: Lead source (Choice)",
        "Lead: Industry (Choice)",
        "Lead: Purchase timeframe (Choice)",
    ]
    expect(source).to_have_value("")
    source.select_option(label="Lead: Lead source (Choice)")

    # Close put on the lead: Propose, on the opportunity, would lead back to the lead.
    close = select_at(page, "stages[7].entity")
    close.focus()
    close.select_option("lead")
    expect(select_at(page, "stages[7].entity")).to_be_focused()
    expect(select_at(page, "stages[7].steps[0].field").locator("option:checked")).to_have_text(
        "present_final_proposal (no such field)"
    )
    save(page, re.compile(r"^Draft saved\. \d+ problems to fix before publishing\.$"))
    expect(at(page, "crossings[0].map[4].from").locator(".d-problem")).to_contain_text(
        "has no choice"
    )
    expect(select_at(page, "crossings[0].map[4].from")).to_have_attribute("aria-invalid", "true")
    expect(at(page, "stages[6].next").locator(".d-problem")).to_contain_text("entity out of order")
    summary = page.locator(".d-summary")
    expect(summary).to_contain_text("Entity 2, value 5, copied from: ")
    expect(summary).to_contain_text("Stage 7, default next stage: entity out of order")
    drawn = design(server, copy)
    # On the lead, the first entity, the stage names no entity.
    assert "entity" not in drawn["definition"]["stages"][7]
    assert drawn["definition"]["crossings"][0]["map"][4] == {
        "field": "deal_size",
        "from": "lead.source",
    }

    # Fixed by keyboard: the value removed, Close back on the opportunity.
    at(page, "crossings[0].map[4]").get_by_role("button", name=re.compile("^Remove")).press("Enter")
    expect(crossing.locator(".d-carry")).to_have_count(4)
    expect(crossing.get_by_role("button", name="Add a value")).to_be_focused()
    close = select_at(page, "stages[7].entity")
    close.focus()
    close.select_option("opportunity")
    save(page, "Draft saved.")
    expect(page.locator(".d-problem")).to_have_count(0)
    expect(summary).to_be_hidden()
    saved = design(server, copy)
    assert saved["problems"] == []
    stages = saved["definition"]["stages"]
    assert stages[7]["entity"] == "opportunity" and "entity" not in stages[0]
    assert [(m["field"], m["from"]) for m in saved["definition"]["crossings"][0]["map"]] == MAP
    assert errors == []


def test_a_process_goes_on_to_an_entity_added_in_the_designer(server: Server, browser: Any) -> None:
    draft = create_draft(
        server,
        definition={
            "key": "lead-onwards",
            "name": "Lead Onwards",
            "entity": "lead",
            # Named here, the first entity is left out once the designer saves.
            "stages": [
                {
                    "key": "qualify",
                    "name": "Qualify",
                    "entity": "lead",
                    "category": "QUALIFY",
                    "steps": [],
                }
            ],
        },
    )
    page, errors = open_page(browser, f"{server.url}/#/designer/{draft}", "designer")
    entities = page.get_by_role("region", name="Entities")
    expect(entities.get_by_role("heading", level=3)).to_have_text(["1. Lead"])
    # A process on one entity has no stage to put elsewhere.
    expect(at(page, "stages[0].entity")).to_have_count(0)
    pick = entities.get_by_label("Go on from Lead to")
    offered = options(pick)
    assert {"Opportunity", "Case"} <= set(offered) and "Lead" not in offered

    # An entity without a lookup to the lead says so, and goes again.
    pick.select_option(label="Case")
    entities.get_by_role("button", name="Add entity").click()
    case = page.get_by_role("listitem", name="2. Case")
    expect(at(page, "crossings[0].lookup")).to_have_text(
        re.compile("Case has no lookup to Lead: add one with New field")
    )
    case.get_by_role("button", name="Remove Case from the process").click()
    expect(entities.get_by_role("heading", level=3)).to_have_text(["1. Lead"])
    expect(pick).to_be_focused()

    # The opportunity's one lookup to the lead is taken; no stage works on it yet.
    pick.select_option(label="Opportunity")
    entities.get_by_role("button", name="Add entity").click()
    lookup = page.get_by_role("listitem", name="2. Opportunity").get_by_label("Lookup to Lead")
    expect(lookup).to_have_value("originating_lead")
    expect(lookup).to_be_focused()
    page.get_by_role("button", name="Validate").click()
    expect(at(page, "crossings[0]").locator(".d-problem")).to_have_text(
        "no stage works on opportunity"
    )

    page.get_by_label("New stage name").fill("Develop")
    page.get_by_role("button", name="Add stage").click()
    works_on = select_at(page, "stages[1].entity")
    expect(works_on).to_have_value("lead")
    works_on.select_option(label="Opportunity")
    develop = at(page, "stages[1]")
    offered = options(develop.get_by_label("Add a step"))
    assert "Customer need (Text)" in offered and "Budget amount (Money)" not in offered
    develop.get_by_label("Add a step").select_option(label="Customer need (Text)")
    develop.get_by_role("button", name="Add step").click()
    page.get_by_role("button", name="Validate").click()
    expect(page.locator(".d-status")).to_have_text("No problems: the draft can be published.")
    definition = design(server, draft)["definition"]
    assert definition["crossings"] == [{"entity": "opportunity", "lookup": "originating_lead"}]
    assert "entity" not in definition["stages"][0]
    assert definition["stages"][1]["entity"] == "opportunity"
    assert definition["stages"][1]["steps"] == [{"field": "customer_need", "required": False}]
    assert errors == []
