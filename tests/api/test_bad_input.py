"""Bad input gets a clear, typed answer and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from documents import (
    ADVANCE,
    COMPLETE_STEP,
    CREATE_RECORD,
    EVENTS,
    FINISH,
    INSTANCE,
    MOVE_TO,
    START,
    SWITCH,
    UPDATE_RECORD,
)


async def _started(gql: Any) -> dict[str, Any]:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Fabrikam"}}
    )
    record_id = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": record_id}})
    return started["startInstance"]["instance"]  # type: ignore[no-any-return]


async def _snapshot(gql: Any, instance_id: str) -> tuple[Any, Any]:
    """The instance as the bar shows it and the whole audit trail."""
    instance = (await gql.execute(INSTANCE, {"id": instance_id}))["instance"]
    events = (await gql.execute(EVENTS, {"after": 0}))["events"]
    for visit in instance["history"]:
        visit.pop("durationSeconds")  # grows with the clock
    return instance, events


BAD_CALLS = [
    pytest.param(
        ADVANCE, {"instanceId": "999999"}, "NotFound", {"kind": "Instance"}, id="unknown-instance"
    ),
    pytest.param(ADVANCE, {"instanceId": "abc"}, "NotFound", {"id": "abc"}, id="malformed-id"),
    pytest.param(
        COMPLETE_STEP,
        {"field": "estimated_budget", "value": "a lot"},
        "InvalidValue",
        {"field": "estimated_budget"},
        id="money-as-words",
    ),
    pytest.param(
        COMPLETE_STEP,
        {"field": "decision_maker_identified", "value": "yes"},
        "InvalidValue",
        {"field": "decision_maker_identified"},
        id="text-for-boolean",
    ),
    pytest.param(
        COMPLETE_STEP,
        {"field": "purchase_timeframe", "value": "Someday"},
        "InvalidValue",
        {"field": "purchase_timeframe"},
        id="unknown-choice",
    ),
    pytest.param(
        COMPLETE_STEP,
        {"field": "present_final_proposal", "value": True},
        "InvalidTransition",
        {"code": "STAGE_NOT_REACHED"},
        id="step-of-later-stage",
    ),
    pytest.param(
        COMPLETE_STEP,
        {"field": "no_such_field", "value": 1},
        "InvalidTransition",
        {"code": "UNKNOWN_STEP"},
        id="unknown-step",
    ),
    pytest.param(ADVANCE, {}, "StageGateBlocked", {}, id="gate"),
    pytest.param(
        ADVANCE, {"expectedVersion": 99}, "VersionConflict", {"expectedVersion": 99}, id="stale"
    ),
    pytest.param(
        MOVE_TO,
        {"stage": "propose"},
        "InvalidTransition",
        {"code": "NOT_ON_PATH"},
        id="not-on-path",
    ),
    pytest.param(
        MOVE_TO, {"stage": "nowhere"}, "InvalidTransition", {"code": "NOT_ON_PATH"}, id="no-stage"
    ),
    pytest.param(
        FINISH, {}, "InvalidTransition", {"code": "NOT_LAST_STAGE"}, id="finish-too-early"
    ),
]


@pytest.mark.parametrize(("document", "extra", "typename", "expected"), BAD_CALLS)
async def test_bad_instance_call_is_refused_and_changes_nothing(
    gql: Any, document: str, extra: dict[str, Any], typename: str, expected: dict[str, Any]
) -> None:
    instance = await _started(gql)
    before = await _snapshot(gql, instance["id"])

    data = await gql.execute(document, {"input": {"instanceId": instance["id"], **extra}})
    result = next(iter(data.values()))

    assert result["__typename"] == typename, result
    assert result["message"]
    for key, value in expected.items():
        assert result[key] == value
    assert await _snapshot(gql, instance["id"]) == before


async def test_stale_version_reports_the_current_one(gql: Any) -> None:
    instance = await _started(gql)
    result = await gql.execute(
        ADVANCE, {"input": {"instanceId": instance["id"], "expectedVersion": 0}}
    )
    conflict = result["advanceStage"]
    assert conflict["__typename"] == "VersionConflict"
    assert conflict["currentVersion"] == instance["version"]


async def test_bad_record_input_is_refused_and_writes_nothing(gql: Any) -> None:
    events = (await gql.execute(EVENTS, {"after": 0}))["events"]
    cases = [
        ({"entity": "spaceship", "name": "X"}, "NotFound"),
        ({"entity": "opportunity", "name": "  "}, "InvalidValue"),
        ({"entity": "opportunity", "name": "X", "values": {"probability": "high"}}, "InvalidValue"),
        ({"entity": "opportunity", "name": "X", "values": {"warp_factor": 9}}, "InvalidValue"),
        ({"entity": "opportunity", "name": "X", "values": [1, 2]}, "InvalidValue"),
        (
            {"entity": "opportunity", "name": "X", "values": {"proposal_sent_date": "31/12/2026"}},
            "InvalidValue",
        ),
    ]
    for input, typename in cases:
        result = (await gql.execute(CREATE_RECORD, {"input": input}))["createRecord"]
        assert result["__typename"] == typename, (input, result)
    assert (await gql.execute(EVENTS, {"after": 0}))["events"] == events


async def test_update_record_with_stale_version_is_a_conflict(gql: Any) -> None:
    instance = await _started(gql)
    record = instance["record"]
    ok = await gql.execute(
        UPDATE_RECORD,
        {
            "input": {
                "recordId": record["id"],
                "values": {"probability": 40},
                "expectedVersion": record["version"],
            }
        },
    )
    assert ok["updateRecord"]["__typename"] == "RecordUpdated"
    assert ok["updateRecord"]["event"]["before"] == {"values": {"probability": None}}
    stale = await gql.execute(
        UPDATE_RECORD,
        {
            "input": {
                "recordId": record["id"],
                "values": {"probability": 90},
                "expectedVersion": record["version"],
            }
        },
    )
    assert stale["updateRecord"]["__typename"] == "VersionConflict"
    assert stale["updateRecord"]["currentVersion"] == record["version"] + 1
    fetched = (await gql.execute(INSTANCE, {"id": instance["id"]}))["instance"]
    assert fetched["record"]["values"]["probability"] == 40


async def test_switch_to_unknown_process_is_not_found(gql: Any) -> None:
    instance = await _started(gql)
    result = await gql.execute(
        SWITCH, {"input": {"recordId": instance["record"]["id"], "processId": "4242"}}
    )
    assert result["switchProcess"]["__typename"] == "NotFound"
    assert result["switchProcess"]["kind"] == "Process"


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ processes { name "},
        {"query": "{ processes { nope } }"},
        {"query": "mutation { advanceStage(input: {}) { __typename } }"},
        {"query": "query($id: ID!) { instance(id: $id) { id } }", "variables": {"id": {"x": 1}}},
        {"nothing": "here"},
    ],
    ids=["syntax", "unknown-field", "missing-input", "bad-variable", "no-query"],
)
async def test_malformed_graphql_is_a_client_error(gql: Any, body: dict[str, Any]) -> None:
    response = await gql.http.post("/graphql", json=body)
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.text and "SELECT" not in response.text
    if response.headers["content-type"].startswith("application/json"):
        payload = response.json()
        assert payload.get("data") is None
        assert payload["errors"][0]["message"]
    else:
        assert response.status_code == 400 and response.text


async def test_page_size_is_bounded(gql: Any) -> None:
    response = await gql.post("{ instances(first: 1000) { totalCount } }")
    payload = response.json()
    assert payload["data"] is None
    assert "1 to 100" in payload["errors"][0]["message"]
