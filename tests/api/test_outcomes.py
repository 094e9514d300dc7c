"""Finishing says how it ended: the outcomes a process declares, chosen when an instance
finishes, kept on the instance and in its event, forgotten on reactivation."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from documents import ABANDON, CREATE_RECORD, FINISH, INSTANCE, REACTIVATE, START

from server.db.models import EventRow, InstanceRow

OUTCOMES = [
    {"key": "won", "label": "Won"},
    {"key": "lost", "label": "Lost", "reason": "required"},
]
SHOWN = [
    {"key": "won", "label": "Won", "reasonRequired": False},
    {"key": "lost", "label": "Lost", "reasonRequired": True},
]
QUICK = {
    "key": "quick",
    "name": "Quick",
    "entity": "opportunity",
    "outcomes": OUTCOMES,
    "stages": [{"key": "close", "name": "Close", "category": "CLOSE", "steps": []}],
}
IMPORT = """
mutation($input: ImportProcessInput!) { importProcess(input: $input) { __typename
  ... on ProcessImported { process { id version outcomes { key label reasonRequired } } }
  ... on InvalidDefinition { problems { path message } } } }
"""
PROCESS = """query($id: ID!) { process(id: $id) { key outcomes { key label reasonRequired }
  definition } }"""
EXPORT = "query($id: ID!, $v: Int) { exportProcess(processId: $id, version: $v) }"
EVENTS = """query($id: ID!) { instance(id: $id) { events { kind actor after } } }"""


async def _import(gql: Any, definition: dict[str, Any]) -> dict[str, Any]:
    done = await gql.execute(IMPORT, {"input": {"definition": definition, "publish": True}})
    return done["importProcess"]  # type: ignore[no-any-return]


async def _instance(gql: Any, process_id: str) -> str:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Deal", "values": {}}}
    )
    record = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": record, "processId": process_id}})
    return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


async def _finish(gql: Any, instance: str, **input: Any) -> dict[str, Any]:
    data = await gql.execute(FINISH, {"input": {"instanceId": instance, **input}})
    return data["finishInstance"]  # type: ignore[no-any-return]


@pytest.fixture
async def quick(gql: Any) -> str:
    """A one-stage process declaring Won / Lost (a reason required for Lost)."""
    done = await _import(gql, QUICK)
    assert done["__typename"] == "ProcessImported", done
    return done["process"]["id"]  # type: ignore[no-any-return]


async def _state(instance: str) -> tuple[Any, ...]:
    row = await InstanceRow.get(id=int(instance))
    return row.version, row.status, row.outcome, await EventRow.all().count()


@pytest.mark.parametrize(
    ("input", "reason_required"),
    [
        ({}, False),  # none named
        ({"outcome": "draw"}, False),  # an unknown one
        ({"outcome": "Won"}, False),  # keys are exact
        ({"outcome": "lost"}, True),  # its reason is missing
        ({"outcome": "lost", "reason": ""}, True),
        ({"outcome": "lost", "reason": "   \n"}, True),  # blank counts as absent
        ({"reason": "Budget cut"}, False),
    ],
)
async def test_a_finish_without_a_fitting_outcome_is_refused_and_changes_nothing(
    gql: Any, quick: str, input: dict[str, Any], reason_required: bool
) -> None:
    instance = await _instance(gql, quick)
    before = await _state(instance)
    refused = await _finish(gql, instance, **input)
    assert refused["__typename"] == "InvalidOutcome", refused
    assert refused["outcomes"] == SHOWN
    assert refused["reasonRequired"] is reason_required
    assert refused["message"]
    assert await _state(instance) == before


async def test_a_process_without_outcomes_finishes_as_before_and_refuses_one(gql: Any) -> None:
    plain = {k: v for k, v in QUICK.items() if k != "outcomes"} | {"key": "plain"}
    done = await _import(gql, plain)
    assert done["process"]["outcomes"] == []
    instance = await _instance(gql, done["process"]["id"])
    before = await _state(instance)
    refused = await _finish(gql, instance, outcome="won")
    assert refused["__typename"] == "InvalidOutcome"
    assert (refused["outcomes"], refused["reasonRequired"]) == ([], False)
    assert await _state(instance) == before

    finished = await _finish(gql, instance)
    assert finished["__typename"] == "InstanceFinished", finished
    shown = finished["instance"]
    assert (shown["status"], shown["outcome"], shown["outcomeReason"]) == ("FINISHED", None, None)
    assert shown["completedBy"] == "demo"
    assert finished["event"]["after"]["outcome"] is None
    assert finished["event"]["after"]["reason"] is None


async def test_finishing_with_an_outcome_keeps_it_and_tells_it_in_the_event(
    gql: Any, quick: str
) -> None:
    instance = await _instance(gql, quick)
    finished = await _finish(gql, instance, outcome="lost", reason="  Went with a rival  ")
    assert finished["__typename"] == "InstanceFinished", finished
    shown = finished["instance"]
    assert shown["outcome"] == {"key": "lost", "label": "Lost", "reasonRequired": True}
    assert (shown["outcomeReason"], shown["completedBy"]) == ("Went with a rival", "demo")
    after = finished["event"]["after"]
    assert (after["status"], after["outcome"], after["reason"]) == (
        "FINISHED",
        "lost",
        "Went with a rival",
    )
    # Read again, and in the instance's history, as webhooks and the audit trail see it.
    again = (await gql.execute(INSTANCE, {"id": instance}))["instance"]
    assert again["outcome"]["key"] == "lost" and again["outcomeReason"] == "Went with a rival"
    events = (await gql.execute(EVENTS, {"id": instance}))["instance"]["events"]
    last = events[-1]
    assert (last["kind"], last["actor"]) == ("INSTANCE_FINISHED", "demo")
    assert (last["after"]["outcome"], last["after"]["reason"]) == ("lost", "Went with a rival")

    won = await _finish(gql, await _instance(gql, quick), outcome="won", reason="  ")
    assert won["instance"]["outcome"]["label"] == "Won"
    assert won["instance"]["outcomeReason"] is None
    assert won["event"]["after"]["reason"] is None


async def test_reactivating_clears_how_it_ended_and_abandoning_says_who(
    gql: Any, quick: str
) -> None:
    instance = await _instance(gql, quick)
    await _finish(gql, instance, outcome="won", reason="Best offer")
    back = await gql.execute(REACTIVATE, {"input": {"instanceId": instance}})
    shown = back["reactivateInstance"]["instance"]
    assert shown["status"] == "ACTIVE"
    assert (shown["outcome"], shown["outcomeReason"], shown["completedBy"]) == (None, None, None)
    row = await InstanceRow.get(id=int(instance))
    assert (row.outcome, row.outcome_reason, row.completed_by) == (None, None, None)

    stopped = await gql.execute(ABANDON, {"input": {"instanceId": instance}}, user="ana")
    shown = stopped["abandonInstance"]["instance"]
    assert (shown["status"], shown["completedBy"], shown["outcome"]) == ("ABANDONED", "ana", None)


async def test_an_idempotency_key_is_bound_to_the_outcome_and_reason(gql: Any, quick: str) -> None:
    instance = await _instance(gql, quick)
    input = {"outcome": "lost", "reason": "Too dear", "idempotencyKey": "finish-1"}
    first = await _finish(gql, instance, **input)
    again = await _finish(gql, instance, **input)
    assert first["__typename"] == again["__typename"] == "InstanceFinished"
    assert again["event"]["seq"] == first["event"]["seq"]
    assert again["instance"]["outcome"]["key"] == "lost"
    other = await _finish(gql, instance, **{**input, "reason": "Too late"})
    assert (other["__typename"], other["code"]) == ("InvalidTransition", "IDEMPOTENCY_KEY_REUSED")


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"outcome": "w" * 65}, "outcome"),
        ({"outcome": "lost", "reason": "r" * 501}, "reason"),
        ({"outcome": "lost", "reason": "nul \x00 here"}, "reason"),
    ],
)
async def test_overlong_or_unstorable_text_is_refused_as_an_invalid_value(
    gql: Any, quick: str, input: dict[str, Any], field: str
) -> None:
    instance = await _instance(gql, quick)
    before = await _state(instance)
    refused = await _finish(gql, instance, **input)
    assert (refused["__typename"], refused["field"]) == ("InvalidValue", field)
    assert await _state(instance) == before


async def test_a_reason_of_500_characters_is_kept(gql: Any, quick: str) -> None:
    instance = await _instance(gql, quick)
    finished = await _finish(gql, instance, outcome="lost", reason="r" * 500)
    assert finished["instance"]["outcomeReason"] == "r" * 500


async def test_outcomes_are_exported_imported_and_versioned(gql: Any, quick: str) -> None:
    shown = (await gql.execute(PROCESS, {"id": quick}))["process"]
    assert shown["outcomes"] == SHOWN
    assert shown["definition"]["outcomes"] == OUTCOMES
    exported = (await gql.execute(EXPORT, {"id": quick, "v": None}))["exportProcess"]
    assert exported == QUICK

    instance = await _instance(gql, quick)
    changed = copy.deepcopy(QUICK)
    changed["outcomes"] = [{"key": "signed", "label": "Signed"}]
    v2 = await _import(gql, changed)
    assert v2["process"]["version"] == 2
    assert v2["process"]["outcomes"] == [
        {"key": "signed", "label": "Signed", "reasonRequired": False}
    ]
    assert (await gql.execute(EXPORT, {"id": quick, "v": 1}))["exportProcess"] == QUICK
    # The instance runs version 1: its outcomes, not version 2's.
    refused = await _finish(gql, instance, outcome="signed")
    assert refused["__typename"] == "InvalidOutcome" and refused["outcomes"] == SHOWN
    assert (await _finish(gql, instance, outcome="won"))["__typename"] == "InstanceFinished"


@pytest.mark.parametrize(
    ("outcomes", "path", "message"),
    [
        ([OUTCOMES[0], OUTCOMES[0]], "outcomes[1].key", "duplicate outcome key 'won'"),
        (
            [{"key": f"o{n}", "label": "O"} for n in range(11)],
            "outcomes",
            "at most 10 outcomes, got 11",
        ),
        ([{"key": "won", "label": "W" * 101}], "outcomes[0].label", "at most 100 characters"),
        (
            [{"key": "Won!", "label": "Won"}],
            "outcomes[0].key",
            "use 1-64 lowercase letters, digits, - or _",
        ),
        (
            [{"key": "won", "label": "Won", "reason": "maybe"}],
            "outcomes[0].reason",
            "use required or optional",
        ),
    ],
)
async def test_outcomes_breaking_a_rule_are_refused_before_publishing(
    gql: Any, outcomes: list[Any], path: str, message: str
) -> None:
    before = await EventRow.all().count()
    refused = await _import(gql, {**QUICK, "key": "broken", "outcomes": outcomes})
    assert refused["__typename"] == "InvalidDefinition"
    assert {"path": path, "message": message} in refused["problems"]
    assert await EventRow.all().count() == before


DRAFT = """mutation($input: CreateProcessInput!) { createProcess(input: $input) { __typename
  ... on ProcessDraftSaved { draft { processId definition problems { path message } } } } }"""
PUBLISH = """mutation($input: DraftInput!) { publishProcess(input: $input) { __typename
  ... on InvalidDefinition { problems { path message } }
  ... on ProcessPublished { process { outcomes { key } } } } }"""


async def test_a_draft_keeps_its_outcomes_broken_or_not(gql: Any) -> None:
    broken = {**QUICK, "key": "drafted", "outcomes": [OUTCOMES[1], OUTCOMES[1]]}
    saved = (await gql.execute(DRAFT, {"input": {"definition": broken}}))["createProcess"]
    draft = saved["draft"]
    assert draft["definition"]["outcomes"] == broken["outcomes"]
    assert draft["problems"] == [
        {"path": "outcomes[1].key", "message": "duplicate outcome key 'lost'"}
    ]
    refused = await gql.execute(PUBLISH, {"input": {"processId": draft["processId"]}})
    assert refused["publishProcess"]["__typename"] == "InvalidDefinition"


async def test_the_shipped_processes_ask_for_their_outcomes(gql: Any) -> None:
    found = await gql.execute("{ processes { key outcomes { key label reasonRequired } } }")
    by_key = {p["key"]: p["outcomes"] for p in found["processes"]}
    assert by_key["opportunity-sales"] == SHOWN
    assert by_key["enterprise-deal"] == SHOWN
    assert [(o["key"], o["reasonRequired"]) for o in by_key["phone-to-case"]] == [
        ("resolved", False),
        ("cancelled", True),
    ]
    assert [(o["label"], o["reasonRequired"]) for o in by_key["lead-to-opportunity"]] == [
        ("Won", False),
        ("Lost", True),
    ]


MIGRATE = """mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) {
  __typename ... on InstancesMigrated { count } } }"""


async def test_a_finished_instance_migrated_keeps_the_outcome_it_ended_with(
    gql: Any, quick: str
) -> None:
    instance = await _instance(gql, quick)
    await _finish(gql, instance, outcome="lost", reason="Too dear")
    changed = {**QUICK, "outcomes": [{"key": "signed", "label": "Signed"}]}
    assert (await _import(gql, changed))["process"]["version"] == 2
    moved = await gql.execute(
        MIGRATE,
        {"input": {"processId": quick, "fromVersion": 1, "toVersion": 2, "dryRun": False}},
    )
    assert moved["migrateInstances"]["count"] == 1
    shown = (await gql.execute(INSTANCE, {"id": instance}))["instance"]
    assert shown["processVersion"] == 2
    # Version 2 declares no `lost`: it is shown as version 1 declared it.
    assert shown["outcome"] == {"key": "lost", "label": "Lost", "reasonRequired": True}
    assert shown["outcomeReason"] == "Too dear"


async def test_fifty_callers_finishing_at_once_end_it_once_with_one_outcome(
    gql: Any, quick: str
) -> None:
    instance = await _instance(gql, quick)
    asked = [
        {"outcome": "won"} if n % 2 else {"outcome": "lost", "reason": f"caller {n}"}
        for n in range(50)
    ]
    answers = await asyncio.gather(*(_finish(gql, instance, **how) for how in asked))
    finished = [a for a in answers if a["__typename"] == "InstanceFinished"]
    assert len(finished) == 1
    # Every other caller is told the run has already ended; none is told of a conflict.
    assert {a["__typename"] for a in answers if a is not finished[0]} == {"InvalidTransition"}
    row = await InstanceRow.get(id=int(instance))
    events = await EventRow.filter(instance_id=int(instance), kind="INSTANCE_FINISHED")
    assert len(events) == 1
    won = finished[0]["instance"]["outcome"]["key"]
    assert (row.status, row.outcome) == ("FINISHED", won)
    assert events[0].after["outcome"] == won
    assert row.outcome_reason == finished[0]["instance"]["outcomeReason"]
