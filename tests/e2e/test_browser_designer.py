"""The process designer in a real browser: build, validate and publish a process, then run
records through it; start from a template; conflicting edits."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from browsing import axe_violations, needs_browser, open_page, screenshot
from playwright.sync_api import Locator, Page, expect
from serving import Server, graphql

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

CREATE_RECORD = """
mutation($input: CreateRecordInput!) {
  createRecord(input: $input) { ... on RecordCreated { record { id } } ... on Error { message } }
}"""
START = """
mutation($input: StartInstanceInput!) {
  startInstance(input: $input) {
    ... on InstanceStarted { instance { id activeStage { key } } } ... on Error { message }
  }
}"""
RUN = """
query($id: ID!) {
  record(id: $id) { activeInstance { process { id } activeStage { key } path { key } } }
}"""
PUBLISHED = """
query($id: ID!) {
  process(id: $id) {
    key name version status
    stages { key name category next steps { field { key } required } branches { to when } }
  }
}"""
DESIGN = """
query($id: ID!) {
  design(processId: $id) { key name basedOn version definition problems { path message } }
}"""
UPDATE = """
mutation($input: UpdateProcessInput!) {
  updateProcess(input: $input) { ... on ProcessDraftSaved { draft { version } } ... on Error { message } }
}"""


def at(page: Page, path: str) -> Locator:
    """The element of the designer that problems at `path` attach to."""
    return page.locator(f'[data-path="{path}"]')


def created_process_id(page: Page) -> str:
    page.wait_for_url(re.compile(r"#/designer/\d+$"))
    expect(page.locator(".d-stages")).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def run_record(
    server: Server, page: Page, process_id: str, name: str, values: dict[str, Any]
) -> Any:
    """A record started on the process, moved past its first stage on its own page."""
    made = graphql(
        server, CREATE_RECORD, input={"entity": "opportunity", "name": name, "values": values}
    )
    record_id = made["createRecord"]["record"]["id"]
    started = graphql(server, START, input={"recordId": record_id, "processId": process_id})
    assert started["startInstance"]["instance"]["activeStage"]["key"] == "qualify"
    page.goto(f"{server.url}/#/records/{record_id}")
    bar = page.locator("ol.bar")
    expect(bar.locator('li[aria-current="step"]')).to_contain_text("Qualify")
    page.get_by_role("button", name="Next stage").click()
    expect(bar.locator('li[aria-current="step"]')).not_to_contain_text("Qualify")
    return graphql(server, RUN, id=record_id)["record"]["activeInstance"]


def test_a_designer_builds_validates_and_publishes_a_branching_process(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    new = page.locator("form", has=page.get_by_role("heading", name="New process"))
    new.get_by_label("Entity").select_option(label="Opportunity")
    new.get_by_label("Name").fill("Quick Deal")
    expect(new.get_by_label("Key")).to_have_value("quick-deal")
    new.get_by_role("button", name="Create process").click()
    process_id = created_process_id(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Quick Deal")

    # An empty draft breaks a rule; the server's problem shows next to the stages.
    expect(at(page, "stages").locator(".d-problem")).to_contain_text("at least one stage")

    for name in ["Qualify", "Approval", "Close"]:
        page.get_by_label("New stage name").fill(name)
        page.get_by_role("button", name="Add stage").click()
    expect(page.locator(".d-stage h3")).to_have_text(["1. Qualify", "2. Approval", "3. Close"])
    expect(at(page, "stages[1].key").get_by_role("textbox")).to_have_value("approval")
    expect(at(page, "stages[1].category").get_by_role("combobox")).to_have_value("APPROVAL")
    # Added stages follow one another.
    expect(at(page, "stages[0].next").get_by_role("combobox")).to_have_value("approval")
    expect(at(page, "stages[2].next").get_by_role("combobox")).to_have_value("")

    qualify = at(page, "stages[0]")
    for label in ["Estimated revenue (Money)", "Customer need (Text)"]:
        qualify.get_by_label("Add a step").select_option(label=label)
        qualify.get_by_role("button", name="Add step").click()
    at(page, "stages[0].steps[0].required").get_by_label("Required").check()
    qualify.get_by_label("Guidance").fill("Size the deal before anything else.")

    # A field made on the spot becomes a required step of the approval stage.
    approval = at(page, "stages[1]")
    approval.get_by_role("button", name="New field").click()
    approval.get_by_label("Field label").fill("Approval level")
    expect(approval.get_by_label("Field key")).to_have_value("approval_level")
    approval.get_by_label("Type").select_option("CHOICE")
    approval.get_by_label("Choices, one per line").fill("Manager\nDirector")
    approval.get_by_role("button", name="Create field").click()
    expect(at(page, "stages[1].steps[0].field").get_by_role("combobox")).to_have_value(
        "approval_level"
    )
    at(page, "stages[1].steps[0].required").get_by_label("Required").check()

    # Big or strategic deals go to approval; the others straight to close.
    qualify.get_by_role("button", name="Add branch").click()
    branch = at(page, "stages[0].branches[0]")
    expect(branch.get_by_label("Go to")).to_have_value("approval")
    when = at(page, "stages[0].branches[0].when")
    when.get_by_label("Condition").select_option("any")
    first = at(page, "stages[0].branches[0].when.any[0]")
    first.get_by_label("Field", exact=True).select_option(label="Estimated revenue (Money)")
    first.get_by_label("Operator").select_option("gte")
    when.get_by_role("button", name="Add comparison").last.click()
    second = at(page, "stages[0].branches[0].when.any[1]")
    second.get_by_label("Field", exact=True).select_option(label="Deal size (Choice)")
    second.get_by_label("Operator").select_option("in")
    second.get_by_label("Strategic").check()
    at(page, "stages[0].next").get_by_label("Default next stage").select_option(label="Close")

    # The comparison lacks its value: the server's problem shows next to it, and at the top.
    page.get_by_role("button", name="Validate").click()
    problem = first.locator(":scope > .d-slot > .d-problem")
    expect(problem).to_contain_text("“is at least” needs a value")
    expect(page.locator(".d-summary h2")).to_have_text("1 problem to fix before publishing")
    expect(second.locator(".d-problem")).to_have_count(0)
    screenshot(page, "designer")

    # Publishing is refused the same way, and nothing is published.
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".d-status")).to_have_text("Not published: 1 problem to fix.")
    expect(problem).to_contain_text("“is at least” needs a value")
    assert graphql(server, DESIGN, id=process_id)["design"]["basedOn"] == 0

    first.get_by_label("Value").fill("100000")
    page.get_by_role("button", name="Validate").click()
    # Good news is said once, as the status, not in the summary of errors.
    expect(page.locator(".d-status")).to_have_text("No problems: the draft can be published.")
    expect(page.locator(".d-status")).to_have_class(re.compile(r"\bd-ok\b"))
    expect(page.locator(".d-summary")).to_be_hidden()
    expect(page.get_by_text("No problems: the draft can be published.")).to_have_count(1)
    expect(page.locator(".d-problem")).to_have_count(0)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".d-status")).to_have_text("Published Quick Deal version 1.")
    expect(page.locator(".d-meta")).to_contain_text("version 1 published")

    published = graphql(server, PUBLISHED, id=process_id)["process"]
    assert published["version"] == 1 and published["status"] == "ACTIVE"
    stages = published["stages"]
    assert [(s["key"], s["category"], s["next"]) for s in stages] == [
        ("qualify", "QUALIFY", "close"),
        ("approval", "APPROVAL", "close"),
        ("close", "CLOSE", None),
    ]
    assert [(s["field"]["key"], s["required"]) for s in stages[0]["steps"]] == [
        ("estimated_revenue", True),
        ("customer_need", False),
    ]
    assert [(s["field"]["key"], s["required"]) for s in stages[1]["steps"]] == [
        ("approval_level", True)
    ]
    [branch_data] = stages[0]["branches"]
    assert branch_data["to"] == "approval"
    revenue, size = branch_data["when"]["any"]
    assert (revenue["field"], revenue["op"], Decimal(revenue["value"])) == (
        "estimated_revenue",
        "gte",
        Decimal(100000),
    )
    assert size == {"field": "deal_size", "op": "in", "value": ["Strategic"]}

    # Records take the branch their values choose.
    big = run_record(server, page, process_id, "Big deal", {"estimated_revenue": "250000"})
    strategic = run_record(
        server,
        page,
        process_id,
        "Strategic deal",
        {"estimated_revenue": "5000", "deal_size": "Strategic"},
    )
    small = run_record(
        server, page, process_id, "Small deal", {"estimated_revenue": "5000", "deal_size": "Small"}
    )
    assert big["process"]["id"] == process_id
    assert [s["key"] for s in big["path"]] == ["qualify", "approval"]
    assert [s["key"] for s in strategic["path"]] == ["qualify", "approval"]
    assert [s["key"] for s in small["path"]] == ["qualify", "close"]
    expect(page.locator('ol.bar li[aria-current="step"]')).to_contain_text("Close")
    assert errors == []


def test_starting_from_a_template_copies_its_stages(server: Server, browser: Any) -> None:
    templates = graphql(server, "{ templates { key name definition } }")["templates"]
    template = next(t for t in templates if t["key"] == "enterprise-deal")
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    form = page.locator("form", has=page.get_by_role("heading", name="Start from a template"))
    choice = form.get_by_role("radio", name="Enterprise Deal")
    choice.check()
    card = form.locator(".d-template").filter(has=page.get_by_role("radio", name="Enterprise Deal"))
    expect(card.locator(".d-template-stages li")).to_have_text(
        [s["name"] for s in template["definition"]["stages"]]
    )

    # A key in use is refused next to the key.
    form.get_by_label("Key of the new process").fill("opportunity-sales")
    form.get_by_role("button", name="Start from template").click()
    expect(form.locator('[data-path="key"] .d-problem')).to_contain_text("exists already")
    assert page.url.endswith("#/designer")

    form.get_by_label("Key of the new process").fill("big-deals")
    form.get_by_role("button", name="Start from template").click()
    process_id = created_process_id(page)
    expect(page.locator(".d-stage h3")).to_have_text(
        [f"{i}. {s['name']}" for i, s in enumerate(template["definition"]["stages"], 1)]
    )
    expect(at(page, "stages[2].branches[0].to").get_by_role("combobox")).to_have_value(
        "deal_desk_approval"
    )
    design = graphql(server, DESIGN, id=process_id)["design"]
    assert design["key"] == "big-deals" and design["basedOn"] == 0
    assert design["definition"]["stages"] == template["definition"]["stages"]
    assert design["problems"] == []

    # Saving the untouched draft writes the same stages back.
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".d-status")).to_have_text("Draft saved.")
    saved = graphql(server, DESIGN, id=process_id)["design"]
    assert saved["version"] == design["version"] + 1
    assert saved["definition"]["stages"] == template["definition"]["stages"]

    # Someone else saves meanwhile: the page says so and saves nothing over it.
    theirs = {**saved["definition"], "name": "Big Deals"}
    answer = graphql(
        server,
        UPDATE,
        input={"processId": process_id, "definition": theirs, "expectedVersion": saved["version"]},
    )
    assert "draft" in answer["updateProcess"]
    page.get_by_label("Process name").fill("Mine")
    page.get_by_role("button", name="Save draft").click()
    alert = page.locator(".d-alert")
    expect(alert).to_contain_text("Someone else saved this process since you opened it")
    assert graphql(server, DESIGN, id=process_id)["design"]["name"] == "Big Deals"
    alert.get_by_role("button", name="Load their version").click()
    expect(page.get_by_label("Process name")).to_have_value("Big Deals")
    expect(alert).to_be_hidden()

    page.get_by_role("link", name="All processes").click()
    expect(page.locator('[data-draft="' + process_id + '"]')).to_contain_text("never published")
    assert errors == []

    # People who only run processes are told the designer is not theirs.
    other, other_errors = open_page(browser, f"{server.url}/#/designer", "demo")
    expect(other.get_by_role("alert")).to_have_text(
        "Designing processes takes a designer or an admin account."
    )
    expect(other.locator(".d-stages, .d-start")).to_have_count(0)
    assert other_errors == []


WEB = Path(__file__).resolve().parents[2] / "web"
CREATE = """
mutation($input: CreateProcessInput!) {
  createProcess(input: $input) {
    ... on ProcessDraftSaved { draft { processId problems { path message } } }
    ... on Error { message }
  }
}"""
# A draft with a branch whose comparison lacks its value and a step of no field: a problem
# of a branch and one of a stage.
FLOW = {
    "key": "drawn-deal",
    "name": "Drawn Deal",
    "entity": "opportunity",
    "stages": [
        {
            "key": "qualify",
            "name": "Qualify",
            "category": "QUALIFY",
            "steps": [{"field": "estimated_revenue", "required": True}],
            "next": "develop",
            "branches": [
                {"to": "close", "when": {"field": "estimated_revenue", "op": "gte"}},
                {
                    "to": "propose",
                    "when": {
                        "any": [
                            {"field": "deal_size", "op": "in", "value": ["Strategic"]},
                            {"not": {"field": "customer_need", "op": "is_set", "value": True}},
                        ]
                    },
                },
            ],
        },
        {
            "key": "develop",
            "name": "Develop",
            "category": "DEVELOP",
            "steps": [{"field": "no_such_field", "required": False}],
            "next": "propose",
        },
        {"key": "propose", "name": "Propose", "category": "PROPOSE", "steps": [], "next": "close"},
        {"key": "close", "name": "Close", "category": "CLOSE", "steps": []},
    ],
}


def create_draft(server: Server, **input: Any) -> str:
    made = graphql(server, CREATE, input=input)["createProcess"]
    assert "draft" in made, made
    return str(made["draft"]["processId"])


def toolbar_bottom(page: Page) -> float:
    box = page.locator(".designer > .d-actions").bounding_box()
    assert box is not None
    return float(box["y"] + box["height"])


def test_the_designer_is_split_by_role() -> None:
    modules = sorted(WEB.glob("designer*.js"))
    assert "designer.js" in [m.name for m in modules] and len(modules) > 4
    sizes = {m.name: len(m.read_text().splitlines()) for m in modules}
    assert max(sizes.values()) <= 400, sizes
    # One module talks to the network, through api.js.
    talking = [
        m.name for m in modules if 'from "./api.js"' in m.read_text() or "fetch(" in m.read_text()
    ]
    assert talking == ["designer-api.js"]


def test_a_new_process_starts_on_the_entity_picked_last(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    new = page.locator("form", has=page.get_by_role("heading", name="New process"))
    entity = new.get_by_label("Entity")
    # Nothing picked yet: the form asks, and does not create a process of a guessed kind.
    expect(entity).to_have_value("")
    new.get_by_label("Name").fill("Unsure")
    new.get_by_role("button", name="Create process").click()
    assert entity.evaluate("select => select.validity.valueMissing")
    assert page.url.endswith("#/designer")
    entity.select_option(label="Lead")
    page.reload()
    expect(entity).to_have_value("lead")
    entity.select_option(label="Opportunity")
    new.get_by_label("Name").fill("Remembered")
    new.get_by_role("button", name="Create process").click()
    created_process_id(page)
    expect(page.locator(".d-meta")).to_contain_text("Opportunity")
    page.get_by_role("link", name="All processes").click()
    expect(entity).to_have_value("opportunity")
    assert errors == []


def add_stages(page: Page, names: list[str]) -> None:
    for name in names:
        page.get_by_label("New stage name").fill(name)
        page.get_by_role("button", name="Add stage").click()
        expect(page.locator(".d-stage h3").last).to_have_text(re.compile(rf"\. {name}$"))


def test_a_new_stage_takes_the_category_that_follows_on_the_usual_way(
    server: Server, browser: Any
) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    new = page.locator("form", has=page.get_by_role("heading", name="New process"))
    new.get_by_label("Entity").select_option(label="Opportunity")
    new.get_by_label("Name").fill("Deal Categories")
    new.get_by_role("button", name="Create process").click()
    created_process_id(page)
    # Qualify, Develop, Propose, Close is the way every opportunity template goes; a stage
    # past its end closes too, and a stage named after a category takes it.
    add_stages(page, ["Discover", "Build", "Offer", "Sign", "Aftercare", "Approval"])
    expected = ["QUALIFY", "DEVELOP", "PROPOSE", "CLOSE", "CLOSE", "APPROVAL"]
    for i, category in enumerate(expected):
        expect(at(page, f"stages[{i}].category").get_by_role("combobox")).to_have_value(category)
    expect(page.locator(".d-drawing .d-node-category")).to_have_text(
        ["Qualify", "Develop", "Propose", "Close", "Close", "Approval"]
    )

    # A case goes Identify, Research, Resolve.
    page.get_by_role("link", name="All processes").click()
    new.get_by_label("Entity").select_option(label="Case")
    new.get_by_label("Name").fill("Case Categories")
    new.get_by_role("button", name="Create process").click()
    created_process_id(page)
    add_stages(page, ["Intake", "Look into", "Fix"])
    for i, category in enumerate(["IDENTIFY", "RESEARCH", "RESOLVE"]):
        expect(at(page, f"stages[{i}].category").get_by_role("combobox")).to_have_value(category)
    assert errors == []


def test_the_designer_draws_the_process_beside_its_form(server: Server, browser: Any) -> None:
    process_id = create_draft(server, definition=FLOW)
    page, errors = open_page(browser, f"{server.url}/#/designer/{process_id}", "designer")
    drawing = page.locator(".d-drawing")
    boxes = drawing.get_by_role("button")
    expect(boxes).to_have_count(4)
    for i, name in enumerate(["1. Qualify", "2. Develop", "3. Propose", "4. Close"]):
        expect(boxes.nth(i)).to_have_accessible_name(f"{name} {name[3:]}")
    expect(drawing.locator(".d-node-category")).to_have_text(
        ["Qualify", "Develop", "Propose", "Close"]
    )
    expect(drawing.get_by_role("img", name=re.compile("^Branch"))).to_have_count(2)
    big = drawing.get_by_role(
        "img", name="Branch 1 of Qualify: when Estimated revenue ≥ …, to Close"
    )
    strategic = drawing.get_by_role(
        "img",
        name="Branch 2 of Qualify: when Deal size in Strategic or not (Customer need set), "
        "to Propose",
    )
    expect(big.locator(".d-edge-label")).to_have_text("Estimated revenue ≥ …")
    expect(strategic).to_have_count(1)
    expect(drawing.get_by_role("img", name=re.compile("^Default next"))).to_have_count(3)
    expect(drawing.locator(".d-next .d-edge-label")).to_have_text(["default"] * 3)

    # The server's problems, marked on the branch and the stage they concern.
    expect(big).to_have_class(re.compile(r"\bd-flaw\b"))
    expect(big).to_have_accessible_description(re.compile("“is at least” needs a value"))
    develop = boxes.nth(1)
    expect(develop).to_have_class(re.compile(r"\bd-flaw\b"))
    expect(develop).to_have_accessible_description(re.compile(r"^1 problem: .*no_such_field"))
    assert develop.locator(".d-box").evaluate("e => getComputedStyle(e).stroke") == (
        "rgb(207, 34, 46)"
    )
    expect(strategic).not_to_have_class(re.compile(r"\bd-flaw\b"))
    expect(boxes.nth(2)).not_to_have_class(re.compile(r"\bd-flaw\b"))
    expect(boxes.nth(2)).to_have_accessible_description("")

    # Beside the form on a wide screen.
    drawn, form = drawing.bounding_box(), page.locator(".d-editor").bounding_box()
    assert drawn is not None and form is not None
    assert drawn["x"] + drawn["width"] <= form["x"] and drawn["y"] < form["y"] + form["height"]

    # A box opens its stage's editor, its first field focused and clear of the toolbar.
    boxes.nth(2).click()
    propose_name = at(page, "stages[2].name").get_by_role("textbox")
    expect(propose_name).to_be_focused()
    expect(propose_name).to_be_in_viewport()
    field = propose_name.bounding_box()
    assert field is not None and field["y"] >= toolbar_bottom(page)
    # By keyboard too: the boxes are in the tab order; Enter or Space opens.
    boxes.nth(0).focus()
    page.keyboard.press("Tab")
    expect(boxes.nth(1)).to_be_focused()
    ring = boxes.nth(1).locator(".d-ring")
    assert ring.evaluate("e => getComputedStyle(e).stroke") == "rgb(9, 105, 218)"
    page.keyboard.press("Enter")
    expect(at(page, "stages[1].name").get_by_role("textbox")).to_be_focused()
    boxes.nth(3).focus()
    page.keyboard.press(" ")
    expect(at(page, "stages[3].name").get_by_role("textbox")).to_be_focused()

    # The drawing follows the form.
    propose_name.fill("Offer")
    expect(boxes.nth(2)).to_have_accessible_name("3. Offer Propose")
    at(page, "stages[2].category").get_by_role("combobox").select_option("APPROVAL")
    expect(drawing.locator(".d-node-category").nth(2)).to_have_text("Approval")
    at(page, "stages[0].branches[0].when").get_by_label("Value").fill("100000")
    expect(big.locator(".d-edge-label")).to_have_count(0)
    expect(drawing.locator(".d-branch .d-edge-label").first).to_have_text(
        "Estimated revenue ≥ 100000"
    )
    add_stages(page, ["Aftercare"])
    expect(boxes).to_have_count(5)
    expect(boxes.nth(4)).to_have_accessible_name("5. Aftercare Close")
    expect(drawing.locator(".d-next .d-edge-label")).to_have_text(["default"] * 4)
    at(page, "stages[1].steps[0]").get_by_role("button", name=re.compile("^Remove")).click()
    page.get_by_role("button", name="Validate").click()
    expect(page.locator(".d-status")).to_have_text("No problems: the draft can be published.")
    expect(drawing.locator(".d-flaw")).to_have_count(0)
    expect(develop).to_have_accessible_description("")

    # On a phone the drawing stands above the form and the page does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    drawn, form = drawing.bounding_box(), page.locator(".d-editor").bounding_box()
    assert drawn is not None and form is not None
    assert drawn["y"] + drawn["height"] <= form["y"] and drawn["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "designer-390")
    assert errors == []


def test_the_designer_fits_a_320_px_screen(server: Server, browser: Any) -> None:
    process_id = create_draft(server, definition=FLOW)
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    page.set_viewport_size({"width": 320, "height": 700})
    expect(page.locator(".d-start")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.goto(f"{server.url}/#/designer/{process_id}")
    expect(page.locator(".d-drawing .d-node")).to_have_count(4)
    expect(at(page, "stages[0].branches[1].when.any[1].not")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert errors == []


FOCUS_AND_TOOLBAR = """() => {
  const focused = document.activeElement;
  const toolbar = document.querySelector(".designer > .d-actions");
  if (!focused.closest(".designer") || toolbar.contains(focused)) return null;
  return [focused.getBoundingClientRect().top, toolbar.getBoundingClientRect().bottom, focused.outerHTML.slice(0, 80)];
}"""


def test_a_focused_field_is_never_under_the_sticky_toolbar(server: Server, browser: Any) -> None:
    process_id = create_draft(server, template="enterprise-deal", key="long-deal")
    page, errors = open_page(browser, f"{server.url}/#/designer/{process_id}", "designer")
    expect(page.locator(".d-stage")).to_have_count(6)
    # From the foot of the page back up, then down again from the middle: every field
    # scrolled into view stands below the toolbar, not under it.
    page.get_by_role("button", name="Add stage").focus()
    seen = 0
    for key in ["Shift+Tab"] * 60 + ["Tab"] * 20:
        page.keyboard.press(key)
        where = page.evaluate(FOCUS_AND_TOOLBAR)
        if where is None:
            continue
        top, bottom, what = where
        seen += 1
        assert top >= bottom - 0.5, f"{what} at {top}, under the toolbar ending at {bottom}"
    assert seen >= 60
    assert errors == []


VISIBLE_TEXTS = """nodes => nodes.map(node => {
  const text = (element) => element.innerText.replace(/\\s+/g, " ").trim();
  if (node instanceof SVGElement) {
    return [...node.querySelectorAll("text:not([aria-hidden])")].map(t => t.textContent.trim());
  }
  if (!node.checkVisibility()) return [];
  if (["INPUT", "SELECT", "TEXTAREA"].includes(node.tagName)) {
    return [...node.labels].filter(l => !l.classList.contains("d-sr")).map(text).filter(Boolean);
  }
  return text(node) ? [text(node)] : [];
})"""


def assert_named_by_visible_text(page: Page) -> int:
    controls = page.locator(".designer").locator(
        "button, a, [role=button], input, select, textarea"
    )
    texts = controls.evaluate_all(VISIBLE_TEXTS)
    for i, pieces in enumerate(texts):
        for piece in pieces:
            expect(controls.nth(i)).to_have_accessible_name(re.compile(re.escape(piece)))
    return sum(1 for pieces in texts if pieces)


def test_every_designer_control_is_named_by_its_visible_text(server: Server, browser: Any) -> None:
    process_id = create_draft(server, definition=FLOW)
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    expect(page.locator(".d-start")).to_be_visible()
    assert assert_named_by_visible_text(page) > 20
    page.goto(f"{server.url}/#/designer/{process_id}")
    expect(page.locator(".d-drawing .d-node")).to_have_count(4)
    assert assert_named_by_visible_text(page) > 60
    assert errors == []


def test_the_designer_passes_axe(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, f"{server.url}/#/designer", "designer")
    expect(page.get_by_role("heading", name="New process")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Opportunity Sales").first.click()
    expect(page.locator("svg")).to_have_count(1)
    assert axe_violations(page) == []
    page.set_viewport_size({"width": 320, "height": 700})
    assert axe_violations(page) == []
    assert errors == []
