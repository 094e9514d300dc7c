"""The board in a real browser against a real server: lanes that agree with the records list,
moves made on explicit confirm and refused where the gate would, cards that say what a rep
scans for, lanes paged as they scroll, keyboard only, and narrow screens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from browsing import (
    Held,
    axe_violations,
    mutation_name,
    needs_browser,
    open_page,
    screenshot,
    sent_mutations,
)
from opportunities import ADVANCE, SET, new_opportunity, trail
from playwright.sync_api import Page, expect
from serving import Server, graphql, graphql_as

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

ABANDON = """mutation($input: InstanceInput!) { abandonInstance(input: $input) {
  __typename ... on Error { message } } }"""
SWITCH = """mutation($input: SwitchProcessInput!) { switchProcess(input: $input) {
  __typename ... on InstanceChange { instance { id } } ... on Error { message } } }"""
PROCESSES = "{ processes { id key } }"
RECORD_RUN = """query($id: ID!) { record(id: $id) { activeInstance { id version } } }"""

# Every required step of Opportunity Sales up to Close is done.
READY_TO_CLOSE = {
    "estimated_budget": 12000,
    "decision_maker_identified": True,
    "customer_need": "Twelve printers for the new office",
    "develop_proposal": True,
    "present_proposal": True,
}
READY_TO_PROPOSE = {key: READY_TO_CLOSE[key] for key in list(READY_TO_CLOSE)[:3]}


def process_ids(server: Server) -> dict[str, str]:
    found: list[dict[str, str]] = graphql(server, PROCESSES)["processes"]  # type: ignore[assignment]
    return {p["key"]: p["id"] for p in found}


def open_board(server: Server, browser: Any, process_id: str = "") -> tuple[Page, list[str]]:
    path = f"#/board/{process_id}" if process_id else "#/board"
    page, errors = open_page(browser, f"{server.url}/{path}", user="ana")
    page.wait_for_selector("#live-state[data-state='open']")
    page.wait_for_selector(".column .card")
    return page, errors


def lane(page: Page, stage: str) -> Any:
    return page.locator(f".column[data-stage='{stage}']")


def counts(page: Page) -> dict[str, int]:
    columns = page.locator(".column")
    return {
        columns.nth(i).get_attribute("data-stage"): int(
            columns.nth(i).locator(".count").text_content() or ""
        )
        for i in range(columns.count())
    }


def card(page: Page, name: str) -> Any:
    return page.locator(".card", has_text=name)


def focused(page: Page) -> str:
    """What has focus: the card it is in, and the control's accessible name or tag."""
    return page.evaluate(
        """() => {
          const node = document.activeElement;
          const card = node.closest('.card');
          const name = node.getAttribute('aria-label') || node.textContent.trim();
          return `${card ? card.querySelector('a').textContent + ' > ' : ''}${node.tagName}:${name}`;
        }"""
    )


def test_board_moves_cards_and_shows_the_gate(server: Server, browser: Any) -> None:
    page, errors = open_board(server, browser)
    sent = sent_mutations(page)
    assert counts(page) == {"qualify": 2, "develop": 1, "propose": 0, "close": 0}
    expect(lane(page, "develop").locator(".card a")).to_have_text(["Fabrikam - fleet renewal"])
    screenshot(page, "board")

    # Contoso lacks a required step: its advance is refused on the card, focusable, with why.
    contoso = card(page, "Contoso - 50 laptops")
    advance = contoso.get_by_role("button", name="Advance to Develop: Contoso - 50 laptops")
    expect(advance).to_have_attribute("aria-disabled", "true")
    expect(advance).to_have_accessible_description("Missing: Decision maker identified")
    expect(contoso.locator(".missing")).to_be_visible()
    advance.focus()
    expect(advance).to_be_focused()
    advance.click(force=True)
    advance.press("Enter")
    assert sent == []
    assert counts(page) == {"qualify": 2, "develop": 1, "propose": 0, "close": 0}

    # Someone else completes it and advances; the board follows live, with a notice.
    record_id = contoso.get_attribute("data-record")
    instance = graphql(server, RECORD_RUN, id=record_id)["record"]["activeInstance"]  # type: ignore[index]
    step = {"instanceId": instance["id"], "field": "decision_maker_identified", "value": True}
    graphql_as(server, "ben", SET, input=step)
    graphql_as(server, "ben", ADVANCE, input={"instanceId": instance["id"]})
    expect(lane(page, "develop").locator(".count")).to_have_text("2")
    assert "ben advanced Contoso - 50 laptops from Qualify to Develop" in (
        page.locator(".notice").all_text_contents()
    )

    # Dragging a card back along its path is a moveToStage.
    contoso.drag_to(lane(page, "qualify"))
    expect(lane(page, "qualify").locator(".count")).to_have_text("2")
    assert counts(page) == {"qualify": 2, "develop": 1, "propose": 0, "close": 0}
    # Forward past the stage its values lead to is refused on the page.
    card(page, "Northwind - support contract").drag_to(lane(page, "close"))
    expect(page.locator(".refusal")).to_have_text(
        "Northwind - support contract can only go forward to Develop, the stage its values lead to."
    )
    assert [name for name, _ in sent] == ["moveToStage"]
    assert errors == []


def test_a_double_click_on_a_board_card_is_one_move(server: Server, browser: Any) -> None:
    _, instance_id = new_opportunity(server, "Adatum - 12 printers", READY_TO_PROPOSE)
    version = trail(server, instance_id)["version"]
    page, errors = open_board(server, browser)
    sent = sent_mutations(page)
    held = Held(page, "advanceStage")
    advance = page.get_by_role("button", name="Advance to Develop: Adatum - 12 printers")
    with page.expect_request(lambda r: mutation_name(r) == "advanceStage"):
        advance.dblclick()
    held_back = advance.get_attribute("aria-disabled")
    held.release()

    develop = lane(page, "develop").locator(".card", has_text="Adatum")
    advance = develop.get_by_role("button", name="Advance to Propose: Adatum - 12 printers")
    expect(advance).not_to_have_attribute("aria-disabled", "true")
    assert trail(server, instance_id)["events"] == ["INSTANCE_STARTED", "STAGE_ADVANCED"]
    advances = [input for name, input in sent if name == "advanceStage"]
    assert len(advances) == 1
    assert advances[0]["expectedVersion"] == version
    expect(page.locator(".refusal")).to_have_text("")
    assert held_back == "true"
    assert errors == []


def test_the_board_shows_what_the_records_list_shows(server: Server, browser: Any) -> None:
    ids = process_ids(server)
    switched, switched_run = new_opportunity(server, "Switched - 3 racks", {})
    abandoned, _ = new_opportunity(server, "Abandoned - 9 phones", {})
    new_opportunity(server, "Kept - 4 screens", READY_TO_PROPOSE, advances=1)
    for record_id in (switched, abandoned):
        input = {"recordId": record_id, "processId": ids["enterprise-deal"]}
        answer = graphql_as(server, "ana", SWITCH, input=input)
        assert answer["switchProcess"]["__typename"] != "NotFound", answer
    other = graphql(server, RECORD_RUN, id=abandoned)["record"]["activeInstance"]  # type: ignore[index]
    graphql_as(server, "ana", ABANDON, input={"instanceId": other["id"]})
    # The run on the first process is still active: the bar just shows another one.
    assert trail(server, switched_run)["status"] == "ACTIVE"

    page, errors = open_board(server, browser, ids["opportunity-sales"])
    names = sorted(page.locator(".card a").all_text_contents())
    assert "Kept - 4 screens" in names
    assert "Switched - 3 racks" not in names and "Abandoned - 9 phones" not in names
    board_counts = counts(page)
    total = page.locator(".status").text_content()

    page.goto(f"{server.url}/#/records")
    page.locator("#filter-process").select_option(label="Opportunity Sales")
    page.locator("#filter-status").select_option("ACTIVE")
    expect(page.locator(".status")).to_have_text(f"{len(names)} records")
    assert total == f"{len(names)} active records"
    assert sorted(page.locator("table.records tbody td:first-child a").all_text_contents()) == names
    for stage, count in board_counts.items():
        page.locator("#filter-stage").select_option(stage)
        expect(page.locator(".status")).to_have_text(
            f"{count} {'record' if count == 1 else 'records'}"
        )

    # The other process's board holds the switched record, not the abandoned one.
    page.goto(f"{server.url}/#/board/{ids['enterprise-deal']}")
    expect(page.locator(".card a")).to_have_text(["Switched - 3 racks"])
    assert errors == []


def test_a_last_stage_offers_finish_and_refused_moves_say_why(server: Server, browser: Any) -> None:
    done = READY_TO_CLOSE | {"present_final_proposal": True}
    _, ready = new_opportunity(server, "Ready - 5 servers", done, advances=3)
    _, short = new_opportunity(server, "Short - 2 desks", READY_TO_CLOSE, advances=3)
    page, errors = open_board(server, browser)
    sent = sent_mutations(page)
    close = lane(page, "close")
    expect(close.locator(".count")).to_have_text("2")
    assert close.get_by_role("button", name="Last stage").count() == 0

    # Short lacks the final proposal: Finish stays in the tab order, refused, with the reason.
    refused = card(page, "Short - 2 desks").get_by_role("button", name="Finish: Short - 2 desks")
    expect(refused).to_have_attribute("aria-disabled", "true")
    expect(refused).not_to_have_attribute("disabled", "")
    expect(refused).to_have_accessible_description("Missing: Present final proposal")
    refused.focus()
    refused.press("Enter")
    refused.press(" ")

    finish = card(page, "Ready - 5 servers").get_by_role("button", name="Finish: Ready - 5 servers")
    expect(finish).not_to_have_attribute("aria-disabled", "true")
    version = trail(server, ready)["version"]
    finish.click()
    # How it ended, asked first: Lost needs a reason.
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Lost").check()
    dialog.get_by_role("button", name="Finish", exact=True).click()
    expect(dialog.locator("#finish-reason-note")).to_have_text("Lost asks for a reason.")
    assert sent == []
    dialog.get_by_label("Reason (required)").fill("Budget moved to next year")
    dialog.get_by_role("button", name="Finish", exact=True).click()
    expect(close.locator(".count")).to_have_text("1")
    expect(card(page, "Ready - 5 servers")).to_have_count(0)
    assert trail(server, ready)["status"] == "FINISHED"
    assert trail(server, short)["status"] == "ACTIVE"
    assert [(name, input["instanceId"]) for name, input in sent] == [("finishInstance", ready)]
    assert (sent[0][1]["outcome"], sent[0][1]["reason"]) == ("lost", "Budget moved to next year")
    assert sent[0][1]["expectedVersion"] == version
    # Focus stays in the lane the card left, not on the page's body.
    assert page.evaluate("document.activeElement.closest('.column')?.dataset.stage") == "close"

    # Every move button's accessible name holds its visible text.
    for button in page.locator(".board button").all():
        name = (button.get_attribute("aria-label") or "").lower()
        assert button.inner_text().strip().lower() in name, name
    assert errors == []


def test_a_stage_chosen_to_move_back_to_waits_for_the_button(server: Server, browser: Any) -> None:
    _, instance_id = new_opportunity(server, "Back - 7 tablets", READY_TO_CLOSE, advances=2)
    page, errors = open_board(server, browser)
    sent = sent_mutations(page)
    back = card(page, "Back - 7 tablets")
    choice = back.get_by_role("combobox", name="Stage to move Back - 7 tablets back to")
    choice.focus()
    choice.press("ArrowDown")
    choice.select_option("qualify")
    expect(lane(page, "propose").locator(".card", has_text="Back - 7 tablets")).to_have_count(1)
    assert sent == []
    assert trail(server, instance_id)["path"] == ["qualify", "develop", "propose"]

    button = back.get_by_role("button", name="Move back: Back - 7 tablets")
    button.click()
    moved = lane(page, "qualify").locator(".card", has_text="Back - 7 tablets")
    expect(moved).to_have_count(1)
    assert [(name, input["stage"]) for name, input in sent] == [("moveToStage", "qualify")]
    assert trail(server, instance_id)["path"] == ["qualify"]
    # Focus follows the card into its new lane.
    expect(moved.get_by_role("button", name="Advance to Develop: Back - 7 tablets")).to_be_focused()
    assert errors == []


def test_cards_show_amount_owner_days_in_stage_and_missing_steps(
    server: Server, browser: Any
) -> None:
    new_opportunity(server, "Huge - 1 campus", {"estimated_budget": "99999999999999.99"})
    # The first money field with a value: the budget is empty, the revenue set.
    new_opportunity(server, "Revenue - 8 kiosks", {"estimated_revenue": "1234.5"})
    page, errors = open_board(server, browser)
    huge = card(page, "Huge - 1 campus")
    expect(huge.locator(".amount")).to_have_text("Estimated budget: $99,999,999,999,999.99")
    expect(card(page, "Revenue - 8 kiosks").locator(".amount")).to_have_text(
        "Estimated revenue: $1,234.50"
    )
    expect(card(page, "Northwind - support contract").locator(".amount")).to_have_count(0)
    expect(huge.locator(".meta")).to_have_text("ana · in stage since today · 1 step missing")
    expect(huge.locator(".missing")).to_have_text("Missing: Decision maker identified")
    northwind = card(page, "Northwind - support contract")
    expect(northwind.locator(".meta")).to_have_text("demo · in stage since today · 2 steps missing")
    expect(northwind.locator(".missing")).to_have_text(
        "Missing: Estimated budget, Decision maker identified"
    )

    # Three days and some hours later, by the page's clock.
    page.clock.set_fixed_time(datetime.now(UTC) + timedelta(days=3, hours=2))
    page.reload()
    expect(card(page, "Huge - 1 campus").locator(".meta")).to_have_text(
        "ana · 3 days in stage · 1 step missing"
    )
    assert errors == []


def test_lanes_count_every_card_and_load_more_as_they_scroll(server: Server, browser: Any) -> None:
    for i in range(12):
        new_opportunity(server, f"Qualify lead {i:02}", {})
    for i in range(12):
        new_opportunity(server, f"Develop lead {i:02}", READY_TO_PROPOSE, advances=1)
    page, errors = open_board(server, browser)
    qualify, develop = lane(page, "qualify"), lane(page, "develop")
    expect(qualify.locator(".count")).to_have_text("14")
    expect(develop.locator(".count")).to_have_text("13")
    expect(page.locator(".status")).to_have_text("27 active records")
    expect(qualify.locator(".card")).to_have_count(10)
    expect(develop.locator(".card")).to_have_count(10)

    # "Show more" on its own, without the lane's end scrolled into view.
    more = develop.get_by_role("button", name="Show more: Develop")
    more.evaluate("button => button.focus({ preventScroll: true })")
    page.keyboard.press("Enter")
    expect(develop.locator(".card")).to_have_count(13)
    expect(more).to_be_hidden()
    expect(develop.locator(".card").nth(10).locator("a")).to_be_focused()

    # Scrolling to the end of a lane loads the rest (focus on the new card may have scrolled
    # there already); its own "Show more" is never pressed.
    qualify.locator(".lane-end").scroll_into_view_if_needed()
    expect(qualify.locator(".card")).to_have_count(14)
    expect(qualify.get_by_role("button", name="Show more: Qualify")).to_be_hidden()
    assert len(set(qualify.locator(".card a").all_text_contents())) == 14
    expect(qualify.locator(".count")).to_have_text("14")
    assert errors == []


def tab_to(page: Page, wanted: str, most: int = 80) -> None:
    """Press Tab until `wanted` (as `focused` says it) has focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if focused(page) == wanted:
            return
    raise AssertionError(f"Tab never reached {wanted}; last {focused(page)}")


def test_the_board_works_by_keyboard_alone(server: Server, browser: Any) -> None:
    _, instance_id = new_opportunity(server, "Keys - 6 laptops", READY_TO_PROPOSE)
    page, errors = open_board(server, browser)
    sent = sent_mutations(page)
    name = "Keys - 6 laptops"

    tab_to(page, f"{name} > BUTTON:Advance to Develop: {name}")
    page.keyboard.press("Enter")
    expect(lane(page, "develop").locator(".card", has_text=name)).to_have_count(1)
    # Focus follows the card to its new lane, on the same kind of control.
    expect(page.get_by_role("button", name=f"Advance to Propose: {name}")).to_be_focused()
    expect(page.locator("#announcer")).to_have_text(f"{name} moved to Develop")
    page.keyboard.press("Space")
    expect(lane(page, "propose").locator(".card", has_text=name)).to_have_count(1)
    advance = page.get_by_role("button", name=f"Advance to Close: {name}")
    expect(advance).to_be_focused()
    # Propose's steps are not done: Enter on the refused move does nothing.
    expect(advance).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")

    # Back by the select and its button; arrows in the select move nothing.
    page.keyboard.press("Tab")
    assert focused(page) == f"{name} > SELECT:Stage to move {name} back to"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert focused(page) == f"{name} > BUTTON:Move back: {name}"
    assert [n for n, _ in sent] == ["advanceStage", "advanceStage"]
    page.keyboard.press("Enter")
    expect(lane(page, "develop").locator(".card", has_text=name)).to_have_count(1)
    expect(page.get_by_role("button", name=f"Move back: {name}")).to_be_focused()
    assert [(n, i.get("stage")) for n, i in sent] == [
        ("advanceStage", None),
        ("advanceStage", None),
        ("moveToStage", "develop"),
    ]
    assert trail(server, instance_id)["path"] == ["qualify", "develop"]
    # The card's link opens the record.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == f"{name} > A:{name}"
    page.keyboard.press("Enter")
    page.wait_for_selector("ol.bar > li[aria-current='step']")
    assert errors == []


def test_narrow_screens_scroll_the_lanes_not_the_page(server: Server, browser: Any) -> None:
    page, errors = open_board(server, browser)
    for width in (390, 320):
        page.set_viewport_size({"width": width, "height": 800})
        expect(page.locator(".column")).to_have_count(4)
        sizes = page.evaluate(
            """() => ({
              page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
              lanes: document.querySelector('.board').scrollWidth
                - document.querySelector('.board').clientWidth,
            })"""
        )
        assert sizes["page"] == 0, (width, sizes)
        assert sizes["lanes"] > 0, (width, sizes)
        if width == 390:
            screenshot(page, "board-390")
    # The lanes' own scroller is reached by keyboard and scrolls by arrow keys.
    board = page.get_by_role("region", name="Stages")
    board.focus()
    expect(board).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('.board').scrollLeft > 0")
    assert errors == []


def test_the_board_passes_axe_at_any_width(server: Server, browser: Any) -> None:
    new_opportunity(server, "Short - 2 desks", READY_TO_CLOSE, advances=3)
    page, errors = open_board(server, browser)
    assert axe_violations(page) == []
    page.set_viewport_size({"width": 320, "height": 700})
    assert axe_violations(page) == []
    assert errors == []
