"""Moves and step values from the web app, as the server receives them: a double click is
one move, each change carries the version the user saw, and a change whose answer is lost
is sent again with the same idempotency key, once; a mutation without a key is not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from browsing import (
    Held,
    choose,
    confirm,
    inert,
    mutation_name,
    needs_browser,
    open_page,
    sent_mutations,
)
from opportunities import (
    READY_TO_PROPOSE,
    SET,
    new_opportunity,
    open_record,
    trail,
    wait_for_active,
)
from playwright.sync_api import Route, expect
from serving import Server, graphql, graphql_as

pytestmark = needs_browser
# The machine may be busy: wait as long for assertions as for actions.
expect.set_options(timeout=10_000)

NOT_SAVED = "The server could not be reached. The change may not have been saved; reload to check."


def is_mutation(name: str) -> Any:
    return lambda request: mutation_name(request) == name


@pytest.mark.parametrize("clicks", ["dblclick", "two clicks"])
def test_a_double_click_on_next_stage_is_one_move(
    server: Server, browser: Any, clicks: str
) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", READY_TO_PROPOSE)
    page, errors = open_record(server, browser, record_id)
    sent = sent_mutations(page)
    # The first advance waits at the door: the second click surely comes while it is on its way.
    held = Held(page, "advanceStage")
    next_stage = page.get_by_role("button", name="Next stage")
    expect(next_stage).to_have_text("Next stage → Develop")
    with page.expect_request(is_mutation("advanceStage")):
        if clicks == "dblclick":
            next_stage.dblclick()
        else:
            box = next_stage.bounding_box()
            assert box is not None
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.click(x, y)
            page.mouse.click(x, y)
    # The click disabled the moves at once, before any answer.
    held_back = [inert(next_stage), inert(page.get_by_role("button", name="Abandon"))]
    held.release()

    wait_for_active(page, "Develop")
    # Abandon runs after whatever the page still had to send: then the trail is complete.
    # (Clicked from a script: a bar redrawn meanwhile must not move the button away.)
    abandon = page.get_by_role("button", name="Abandon")
    expect(abandon).not_to_have_attribute("aria-disabled", "true")
    abandon.evaluate("button => button.click()")
    confirm(page, "Abandon")
    page.wait_for_selector(".badge.abandoned")
    run = trail(server, instance_id)
    assert run["path"] == ["qualify", "develop"]
    assert run["events"] == ["INSTANCE_STARTED", "STAGE_ADVANCED", "INSTANCE_ABANDONED"]
    advances = [input for name, input in sent if name == "advanceStage"]
    assert len(advances) == 1
    abandoned = next(input for name, input in sent if name == "abandonInstance")
    # Each move carried the version its view showed: the abandon the one after the advance.
    assert abandoned["expectedVersion"] == advances[0]["expectedVersion"] + 1
    assert page.locator(".refusal").text_content() == ""
    assert held_back == [True, True]
    assert errors == []


def test_values_entered_quickly_then_next_stage_build_on_each_other(
    server: Server, browser: Any
) -> None:
    values = {"estimated_budget": 12000, "decision_maker_identified": True}
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", values)
    page, errors = open_record(server, browser, record_id)
    version = trail(server, instance_id)["version"]
    sent = sent_mutations(page)
    # The first value waits at the door: the second value and the move queue behind it.
    held = Held(page, "completeStep")
    with page.expect_request(is_mutation("completeStep")):
        choose(page, "#step-purchase_timeframe", "This quarter")
    page.locator("#step-estimated_budget").fill("15000")
    # Clicking Next leaves the budget field, which sends its value first.
    page.get_by_role("button", name="Next stage").click()
    held.release()

    wait_for_active(page, "Develop")
    expect(page.locator("dd[data-field='estimated_budget']")).to_have_text("$15,000.00")
    run = trail(server, instance_id)
    assert run["events"] == [
        "INSTANCE_STARTED",
        "STEP_COMPLETED",
        "STEP_COMPLETED",
        "STAGE_ADVANCED",
    ]
    assert run["values"]["purchase_timeframe"] == "This quarter"
    # The user's own changes follow one another: no conflict, each on the version before.
    assert [(name, input.get("expectedVersion")) for name, input in sent] == [
        ("completeStep", version),
        ("completeStep", version + 1),
        ("advanceStage", version + 2),
    ]
    assert page.locator(".refusal").text_content() == ""
    assert errors == []


def test_a_value_conflicts_only_with_a_change_to_the_same_field(
    server: Server, browser: Any
) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    version = trail(server, instance_id)["version"]
    sent = sent_mutations(page)

    bens: list[tuple[str, object]] = []

    def before_anas_value(route: Route) -> None:
        """Ben sets a field just before ana's next value reaches the server."""
        if bens and mutation_name(route.request) == "completeStep":
            field, value = bens.pop()
            step = {"instanceId": instance_id, "field": field, "value": value}
            done = graphql_as(server, "ben", SET, input=step)
            assert done["completeStep"]["__typename"] == "StepCompleted", done
        route.fallback()

    page.route("**/graphql", before_anas_value)

    def meanwhile(field: str, value: object) -> None:
        bens.append((field, value))

    # Ben changed another field than ana: her value is saved, without a word of conflict.
    meanwhile("purchase_process", "Committee")
    choose(page, "#step-purchase_timeframe", "This quarter")
    expect(page.locator("dd[data-field='purchase_timeframe']")).to_have_text("This quarter")
    expect(page.locator("#step-purchase_process")).to_have_value("Committee")
    assert page.locator(".refusal").text_content() == ""
    steps = [input for name, input in sent if name == "completeStep"]
    # Refused on the version she saw, then sent again on the one after Ben's change.
    assert [s.get("expectedVersion") for s in steps] == [version, version + 1]
    assert steps[0]["idempotencyKey"] != steps[1]["idempotencyKey"]

    # Ben changed the very field ana is setting: his value stays, and she is told.
    meanwhile("purchase_process", "Individual")
    choose(page, "#step-purchase_process", "Unknown")
    expect(page.locator("#note-purchase_process")).to_have_text(
        "Someone else changed Purchase process meanwhile; it now shows their value."
    )
    expect(page.locator("#step-purchase_process")).to_have_value("Individual")
    run = trail(server, instance_id)
    assert run["values"]["purchase_process"] == "Individual"
    assert run["values"]["purchase_timeframe"] == "This quarter"
    assert run["events"] == ["INSTANCE_STARTED"] + ["STEP_COMPLETED"] * 3
    assert errors == []


@pytest.mark.parametrize("lost", ["network", "503 OUTCOME_UNKNOWN"])
def test_a_lost_answer_is_sent_again_with_the_same_key(
    server: Server, browser: Any, lost: str
) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", READY_TO_PROPOSE)
    page, errors = open_record(server, browser, record_id)
    attempts: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Route) -> None:
        if mutation_name(route.request) != "advanceStage":
            route.fallback()
            return
        attempts.append(route.request.post_data_json)
        if len(attempts) > 1:
            route.fallback()
            return
        route.fetch()  # the server makes the change...
        if lost == "network":  # ...but its answer never reaches the page
            route.abort()
        else:
            error = {"message": "the outcome is unknown", "extensions": {"code": "OUTCOME_UNKNOWN"}}
            route.fulfill(status=503, json={"data": None, "errors": [error]})

    page.route("**/graphql", lose_the_first_answer)
    page.get_by_role("button", name="Next stage").click()
    wait_for_active(page, "Develop")
    expect(page.get_by_role("button", name="Next stage")).not_to_have_attribute(
        "aria-disabled", "true"
    )

    assert len(attempts) == 2
    assert attempts[0] == attempts[1]  # the same body...
    key = attempts[0]["variables"]["input"]["idempotencyKey"]
    assert isinstance(key, str) and len(key) >= 32  # ...with its key
    run = trail(server, instance_id)
    assert run["events"] == ["INSTANCE_STARTED", "STAGE_ADVANCED"]
    assert run["path"] == ["qualify", "develop"]
    # The retry was answered with the first outcome: no conflict, no error shown.
    assert page.locator(".refusal").text_content() == ""
    assert errors == []


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("network", NOT_SAVED),
        ("DATABASE_UNAVAILABLE", "The server could not reach its database; nothing was changed."),
        ("OUTCOME_UNKNOWN", "The change may not have been saved; reload to check."),
    ],
)
def test_a_change_that_fails_twice_is_told_in_words(
    server: Server, browser: Any, failure: str, message: str
) -> None:
    record_id, instance_id = new_opportunity(server, "Adatum - 12 printers", {})
    page, errors = open_record(server, browser, record_id)
    attempts: list[str] = []

    def fail(route: Route) -> None:
        if mutation_name(route.request) != "completeStep":
            route.fallback()
            return
        attempts.append(route.request.post_data or "")
        if failure == "network":
            route.abort()
            return
        if failure == "OUTCOME_UNKNOWN":
            route.fetch()  # made (then replayed by its key), but the answer is lost
        error = {"message": failure.lower(), "extensions": {"code": failure}}
        route.fulfill(status=503, json={"data": None, "errors": [error]})

    page.route("**/graphql", fail)
    choose(page, "#step-purchase_timeframe", "This quarter")
    # Said next to the step, whose input keeps the value the user chose.
    expect(page.locator("#note-purchase_timeframe")).to_have_text(message)
    expect(page.locator("#step-purchase_timeframe")).to_have_value("This quarter")
    expect(page.locator("#step-purchase_timeframe")).to_have_attribute("aria-invalid", "true")

    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert json.loads(attempts[0])["variables"]["input"]["idempotencyKey"]
    run = trail(server, instance_id)
    changed = failure == "OUTCOME_UNKNOWN"
    assert run["events"] == ["INSTANCE_STARTED"] + (["STEP_COMPLETED"] if changed else [])
    assert errors == []


def test_a_mutation_without_a_key_is_not_sent_again(server: Server, browser: Any) -> None:
    page, errors = open_page(browser, server.url + "/#/users", user="admin")
    attempts: list[dict[str, Any]] = []

    def lose(route: Route) -> None:
        if mutation_name(route.request) != "updateUser":
            route.fallback()
            return
        attempts.append(route.request.post_data_json["variables"]["input"])
        route.abort()

    page.route("**/graphql", lose)
    ana = page.locator("tr[data-user]", has=page.get_by_role("rowheader", name="ana"))
    ana.get_by_label("Team roles of ana").fill("sales, support")
    ana.get_by_role("button", name="Save ana").click()
    expect(ana.get_by_role("alert")).to_have_text(NOT_SAVED)
    assert len(attempts) == 1
    assert "idempotencyKey" not in attempts[0]
    users = graphql(server, "{ users { name roles } }")["users"]
    assert next(u["roles"] for u in users if u["name"] == "ana") == ["sales"]  # type: ignore[union-attr]
    assert errors == []
