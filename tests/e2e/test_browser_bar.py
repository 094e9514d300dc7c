"""The record page as a Dynamics user works it: the panel follows the run, the moves of the
active stage are always in view, each step says whether it saved and why not, hard moves ask
first, history tells every move, money is exact, and the page holds at any width."""

from __future__ import annotations

from typing import Any

from browsing import (
    axe_violations,
    choose,
    confirm,
    inert,
    needs_browser,
    screenshot,
    sent_mutations,
)
from opportunities import (
    ADVANCE,
    READY_TO_PROPOSE,
    SET,
    new_opportunity,
    open_record,
    wait_for_active,
)
from playwright.sync_api import Page, expect
from serving import Server, graphql_as

pytestmark = needs_browser
expect.set_options(timeout=10_000)


def panel_stage(page: Page) -> Any:
    return page.locator("#stage-panel")


def focused(page: Page) -> str:
    """The focused element, as `tag#id`."""
    return str(page.evaluate("`${document.activeElement.tagName}#${document.activeElement.id}`"))


def test_the_panel_follows_the_run_after_a_stage_was_opened(server: Server, browser: Any) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", READY_TO_PROPOSE)
    page, errors = open_record(server, browser, record_id)

    # The active stage opened on the bar, then Next: the panel shows the new stage.
    page.locator("#stage-qualify").click()
    assert focused(page) == "BUTTON#stage-qualify"
    page.get_by_role("button", name="Next stage").click()
    wait_for_active(page, "Develop")
    expect(panel_stage(page)).to_have_attribute("data-stage", "develop")
    expect(page.get_by_role("button", name="Next stage")).to_have_text("Next stage → Propose")
    # Focus went to the new stage's title, not to the page.
    expect(page.locator("#panel-title")).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Moved to Develop")

    # A done stage opened: the moves of the active stage stay in view, Previous among them.
    page.locator("#stage-qualify").click()
    expect(panel_stage(page)).to_have_attribute("data-stage", "qualify")
    expect(page.get_by_role("button", name="Next stage")).to_be_visible()
    expect(page.get_by_role("button", name="← Back to Qualify")).to_be_visible()
    expect(page.get_by_role("button", name="Go back to Qualify")).to_be_visible()

    # Someone else moves the run on: the panel follows it, focus stays on the bar.
    page.locator("#stage-qualify").focus()
    moved = graphql_as(server, "ben", ADVANCE, input={"instanceId": instance_id})
    assert moved["advanceStage"]["__typename"] == "StageAdvanced", moved
    wait_for_active(page, "Propose")
    expect(panel_stage(page)).to_have_attribute("data-stage", "propose")
    assert focused(page) == "BUTTON#stage-qualify"

    # Previous, from the active stage, without opening the done one.
    page.get_by_role("button", name="← Back to Develop").click()
    wait_for_active(page, "Develop")
    expect(panel_stage(page)).to_have_attribute("data-stage", "develop")
    expect(page.locator("#announcer")).to_have_text("Moved back to Develop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "record-390")
    assert errors == []


def test_each_step_says_it_saved_or_why_not_next_to_it(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)

    # A required yes/no step that is No says it must be Yes.
    choose(page, "#step-decision_maker_identified", "No")
    note = page.locator("#note-decision_maker_identified")
    expect(note).to_have_text("Decision maker identified must be Yes to move on.")
    expect(page.locator("#step-decision_maker_identified")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#step-decision_maker_identified")).to_have_attribute(
        "aria-describedby", "note-decision_maker_identified"
    )

    # Saved, visibly, step by step.
    budget = page.locator("#step-estimated_budget")
    budget.fill("48000")
    budget.press("Tab")
    expect(page.locator("#note-estimated_budget")).to_have_text("✓ Saved")
    expect(page.locator("#announcer")).to_have_text("Estimated budget saved")

    # A refused value stays in its input, marked, with the reason in the field's words.
    budget.fill("100000000000000000")
    budget.press("Tab")
    refusal = page.locator("#note-estimated_budget")
    expect(refusal).to_have_class("step-note error")
    expect(refusal).to_contain_text("Estimated budget ")
    assert "estimated_budget" not in (refusal.text_content() or "")
    expect(budget).to_have_value("100000000000000000")
    expect(budget).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".panel .refusal")).to_have_text("")
    assert [name for name, _ in sent] == ["completeStep"] * 3
    assert errors == []


def test_a_select_saves_only_when_the_user_confirms_it(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)
    choice = page.locator("#step-decision_maker_identified")
    choice.focus()
    choice.press("ArrowDown")
    choice.press("ArrowDown")
    choice.press("ArrowUp")
    # Arrow keys only choose; nothing is sent until Enter or leaving the select.
    page.locator("#step-purchase_timeframe").evaluate("e => e.getBoundingClientRect()")
    assert sent == []
    choice.press("Enter")
    expect(page.locator("#note-decision_maker_identified")).to_have_text("✓ Saved")
    assert [(name, input["field"], input["value"]) for name, input in sent] == [
        ("completeStep", "decision_maker_identified", True)
    ]
    # Leaving a select whose value was changed saves it too, once.
    timeframe = page.locator("#step-purchase_timeframe")
    timeframe.select_option("This quarter")
    timeframe.press("Tab")
    expect(page.locator("#note-purchase_timeframe")).to_have_text("✓ Saved")
    assert [input["field"] for _, input in sent] == [
        "decision_maker_identified",
        "purchase_timeframe",
    ]
    assert errors == []


def test_next_refused_by_the_gate_stays_focusable_and_says_why(
    server: Server, browser: Any
) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)
    next_stage = page.get_by_role("button", name="Next stage")
    assert inert(next_stage)
    assert next_stage.get_attribute("aria-describedby") == "gate"
    expect(page.locator("#gate")).to_have_text(
        "Missing: Estimated budget, Decision maker identified"
    )
    # Reached by Tab from the stage before it.
    page.locator("#stage-close").focus()
    page.keyboard.press("Tab")
    expect(next_stage).to_be_focused()
    # Pressed, it sends nothing and leads to the first missing step.
    page.keyboard.press("Enter")
    expect(page.locator("#step-estimated_budget")).to_be_focused()
    for key in ("estimated_budget", "decision_maker_identified"):
        step = page.locator(f"#step-{key}")
        assert step.get_attribute("aria-invalid") == "true"
        assert step.get_attribute("aria-describedby") == f"note-{key}"
    assert sent == []
    assert errors == []


def test_abandon_and_switch_ask_first_and_history_tells_every_move(
    server: Server, browser: Any
) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", READY_TO_PROPOSE)
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)

    page.get_by_role("button", name="Abandon").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Abandon")).to_be_focused()
    assert sent == []

    page.get_by_role("button", name="Abandon").click()
    confirm(page, "Abandon")
    expect(page.locator(".badge.abandoned")).to_be_visible()
    # An abandoned run has no current stage, and its bar does not look active.
    expect(page.locator("ol.bar > li[aria-current]")).to_have_count(0)
    expect(page.locator("ol.bar > li.abandoned")).to_have_count(1)
    expect(page.locator("ol.bar > li.active")).to_have_count(0)
    expect(page.locator("#process-status")).to_contain_text("Abandoned by ana on ")
    expect(page.locator("#process-status")).to_be_focused()

    page.get_by_role("button", name="Reactivate").click()
    expect(page.locator(".badge.active")).to_be_visible()
    page.get_by_role("button", name="Switch process").click()
    confirm(page, "Switch")
    page.wait_for_function("document.getElementById('process-name').textContent.startsWith('Ent')")
    page.get_by_role("button", name="Switch process").click()
    confirm(page, "Switch")
    page.wait_for_function("document.getElementById('process-name').textContent.startsWith('Opp')")

    moves = page.locator(".history tbody tr.move td:first-child")
    expect(moves).to_have_text(["Abandoned", "Reactivated", "Switched to Opportunity Sales"])
    assert [name for name, _ in sent] == [
        "abandonInstance",
        "reactivateInstance",
        "switchProcess",
        "switchProcess",
    ]
    assert errors == []


def test_money_is_exact_and_long_values_fold(server: Server, browser: Any) -> None:
    need = "x" * 4000
    record_id, _ = new_opportunity(
        server,
        "N" * 200,
        {"estimated_budget": "99999999999999.99", "customer_need": need},
    )
    page, errors = open_record(server, browser, record_id)
    expect(page.locator("dd[data-field='estimated_budget']")).to_have_text("$99,999,999,999,999.99")
    shown = page.locator("dd[data-field='customer_need']")
    assert len(shown.inner_text()) < 400
    shown.get_by_role("button", name="Show all 4000 characters").click()
    assert need in shown.inner_text()
    # A 200-character unbroken name does not widen the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for width in (390, 320):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        # The bar stays inside its card.
        inside = page.evaluate(
            """() => { const card = document.querySelector('section.process').getBoundingClientRect();
                 return [...document.querySelectorAll('ol.bar > li')].every(li => {
                   const box = li.getBoundingClientRect();
                   return box.left >= card.left && box.right <= card.right; }); }"""
        )
        assert inside, width
    assert errors == []


def test_time_in_the_stage_is_said_in_words_that_move(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    words = page.evaluate(
        """async () => { const { elapsed } = await import('/dom.js');
             const now = new Date('2026-12-06T12:00:00Z');
             return ['2026-12-06T11:51:00Z', '2026-12-06T09:00:00Z', '2026-12-04T11:00:00Z',
                     '2026-12-05T11:00:00Z', '2026-12-06T11:59:30Z']
               .map(at => elapsed(at, now)); }"""
    )
    assert words == ["9 minutes", "3 hours", "2 days", "1 day", "less than a minute"]
    since = page.locator("ol.bar > li.active .since")
    expect(since).to_have_text("active for less than a minute")
    page.clock.install()
    page.reload()
    expect(since).to_have_text("active for less than a minute")
    page.clock.run_for("02:05")
    expect(since).to_have_text("active for 2 minutes")
    assert page.title() == "Adatum - 12 printers · Stageflow"
    assert errors == []


def test_a_focused_stage_shows_its_focus(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    stage = page.locator("ol.bar > li[data-stage='develop']")
    page.locator("#stage-propose").focus()
    before = stage.screenshot()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#stage-develop")).to_be_focused()
    # The ring is drawn inside the chevron, where its clip-path cannot cut it away.
    assert stage.screenshot() != before
    assert errors == []


def test_another_users_step_keeps_focus_where_it_was(server: Server, browser: Any) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    page.locator("#step-purchase_process").focus()
    step = {"instanceId": instance_id, "field": "estimated_budget", "value": 5000}
    done = graphql_as(server, "ben", SET, input=step)
    assert done["completeStep"]["__typename"] == "StepCompleted", done
    expect(page.locator("dd[data-field='estimated_budget']")).to_have_text("$5,000.00")
    expect(page.locator("#step-purchase_process")).to_be_focused()
    # The notice of ben's change covers nothing of the page.
    notice = page.locator(".notice").first
    expect(notice).to_contain_text("ben filled in a step of Adatum")
    covered = page.evaluate(
        """() => { const n = document.querySelector('.notice').getBoundingClientRect();
             return [...document.querySelectorAll('main *')].filter(e => {
               const b = e.getBoundingClientRect();
               return b.width && b.height && b.left < n.right && n.left < b.right
                 && b.top < n.bottom && n.top < b.bottom; }).length; }"""
    )
    assert covered == 0
    assert errors == []


def test_the_record_page_passes_axe_in_every_state(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    assert axe_violations(page) == []
    page.locator("#stage-develop").click()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Abandon").click()
    assert axe_violations(page) == []
    confirm(page, "Abandon")
    expect(page.locator(".badge.abandoned")).to_be_visible()
    assert axe_violations(page) == []
    page.set_viewport_size({"width": 320, "height": 700})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert axe_violations(page) == []
    assert errors == []


def tab_to(page: Page, element_id: str, *, back: bool = False) -> None:
    """Press Tab (Shift+Tab) until `element_id` has focus, as a keyboard user would."""
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == element_id:
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{element_id} is not reached by Tab; focus is on {focused(page)}")


def test_the_bar_is_worked_without_a_mouse(server: Server, browser: Any) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    page.locator("#record-name").focus()
    tab_to(page, "step-estimated_budget")
    page.keyboard.type("5000")
    page.keyboard.press("Tab")
    expect(page.locator("#note-estimated_budget")).to_have_text("✓ Saved")
    tab_to(page, "step-decision_maker_identified")
    page.keyboard.press("ArrowDown")  # "Yes"
    page.keyboard.press("Enter")
    expect(page.locator("#gate")).to_have_text("")
    tab_to(page, "move-next", back=True)
    page.keyboard.press("Enter")
    wait_for_active(page, "Develop")
    expect(page.locator("#panel-title")).to_be_focused()
    # From the new stage's title, Tab leads into its steps.
    page.keyboard.press("Tab")
    assert focused(page) == "INPUT#step-customer_need"
    # Opening a stage from the keyboard keeps focus on it.
    tab_to(page, "stage-qualify", back=True)
    page.keyboard.press("Enter")
    expect(panel_stage(page)).to_have_attribute("data-stage", "qualify")
    expect(page.locator("#stage-qualify")).to_be_focused()
    assert page.locator("#stage-qualify").get_attribute("aria-expanded") == "true"
    assert errors == []


READY_TO_FINISH = READY_TO_PROPOSE | {
    "develop_proposal": True,
    "present_proposal": True,
    "present_final_proposal": True,
}


def test_finishing_says_how_it_ended_in_the_bar_and_the_history(
    server: Server, browser: Any
) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", READY_TO_FINISH, advances=3)
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)
    page.get_by_role("button", name="Finish").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Won")).to_be_focused()
    dialog.get_by_label("Lost").check()
    confirm(page, "Finish")
    # Lost asks for a reason: nothing is sent without one.
    expect(dialog.locator("#finish-reason-note")).to_have_text("Lost asks for a reason.")
    expect(dialog.get_by_label("Reason (required)")).to_be_focused()
    assert sent == []
    dialog.get_by_label("Reason (required)").fill("Chose a cheaper vendor")
    confirm(page, "Finish")
    expect(page.locator(".badge.finished")).to_be_visible()
    status = page.locator("#process-status")
    expect(status).to_contain_text("Finished · Lost by ana on ")
    expect(status).to_contain_text("Reason: Chose a cheaper vendor")
    expect(status).to_be_focused()
    expect(page.locator("#announcer")).to_have_text("Process finished: Lost")
    expect(page.locator("ol.bar > li.finished")).to_have_count(1)
    expect(page.locator("ol.bar > li[aria-current]")).to_have_count(0)
    assert [(n, i["outcome"], i["reason"]) for n, i in sent] == [
        ("finishInstance", "lost", "Chose a cheaper vendor")
    ]

    # Reactivated, then finished again: the history says why Close appears twice.
    page.get_by_role("button", name="Reactivate").click()
    expect(page.locator(".badge.active")).to_be_visible()
    page.get_by_role("button", name="Finish").click()
    confirm(page, "Finish")  # Won, the first outcome, needs no reason
    expect(status).to_contain_text("Finished · Won by ana on ")
    rows = page.locator(".history tbody tr td:first-child")
    expect(rows).to_have_text(
        [
            "Qualify",
            "Develop",
            "Propose",
            "Close",
            "Finished · Lost (Chose a cheaper vendor)",
            "Reactivated",
            "Close",
            "Finished · Won",
        ]
    )
    assert errors == []


def test_fields_carry_their_bounds_and_negative_money_is_refused(
    server: Server, browser: Any
) -> None:
    record_id, _ = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    budget = page.locator("#step-estimated_budget")
    assert budget.get_attribute("min") == "0"
    budget.fill("-5")
    budget.press("Tab")
    note = page.locator("#note-estimated_budget")
    expect(note).to_have_text("Estimated budget must be at least 0")
    expect(budget).to_have_value("-5")
    # The gate still asks for it: a refused value satisfies nothing.
    expect(page.locator("#gate")).to_contain_text("Estimated budget")
    page.locator("#stage-develop").click()
    need = page.locator("#step-customer_need")
    limit = need.get_attribute("maxlength")
    assert limit is not None and int(limit) > 0
    assert errors == []
