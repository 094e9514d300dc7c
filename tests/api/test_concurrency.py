"""Concurrent writes and idempotency keys, answered alike on SQLite and PostgreSQL.

On PostgreSQL the app's pool runs these requests in parallel at READ COMMITTED; on SQLite
they take turns. Either way: a caller that sent no expectedVersion never gets a conflict,
one that sent one gets a conflict naming it, and an idempotency key has one outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, START, SWITCH

from server.db.models import EventRow

FIELDS = [f"many_{n:02d}" for n in range(1, 31)]
SAVE_FIELD = "mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename } }"
IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
  __typename ... on ProcessImported { process { id } } } }"""
PROCESSES = "{ processes { id key } }"


async def _run(gql: Any, document: str, user: str = "demo", **input: Any) -> dict[str, Any]:
    response = await gql.post(document, {"input": input}, user=user)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return next(iter(body["data"].values()))  # type: ignore[no-any-return]


async def _wide_instance(gql: Any) -> str:
    """An instance of a process whose first stage asks for 30 optional text steps."""
    for key in FIELDS:
        field = {"entity": "opportunity", "key": key, "label": key, "type": "TEXT"}
        assert (await gql.execute(SAVE_FIELD, {"input": field}))["saveField"]["__typename"] == (
            "FieldSaved"
        )
    definition = {
        "key": "wide",
        "name": "Wide",
        "entity": "opportunity",
        "stages": [
            {
                "key": "gather",
                "name": "Gather",
                "category": "QUALIFY",
                "steps": [{"field": f, "required": False} for f in FIELDS],
                "next": "done",
            },
            {"key": "done", "name": "Done", "category": "CLOSE", "steps": []},
        ],
    }
    imported = await gql.execute(IMPORT, {"input": {"definition": definition, "publish": True}})
    process = imported["importProcess"]["process"]["id"]
    return await _opportunity(gql, process)


async def _opportunity(gql: Any, process: str | None = None, **values: Any) -> str:
    created = await _run(gql, CREATE_RECORD, entity="opportunity", name="Deal", values=values)
    started = await _run(
        gql, START, recordId=created["record"]["id"], **({"processId": process} if process else {})
    )
    return started["instance"]["id"]  # type: ignore[no-any-return]


async def _ready_to_advance(gql: Any) -> str:
    return await _opportunity(
        gql, estimated_budget=5000, decision_maker_identified=True, customer_need="Laptops"
    )


async def _events_with_key(key: str) -> int:
    return await EventRow.filter(idempotency_key=key).count()


async def test_values_without_a_version_never_conflict(gql: Any) -> None:
    instance = await _wide_instance(gql)
    answers = await asyncio.gather(
        *(
            _run(gql, COMPLETE_STEP, instanceId=instance, field=field, value=f"value {n}")
            for n, field in enumerate(FIELDS)
        )
    )
    assert [a["__typename"] for a in answers] == ["StepCompleted"] * len(FIELDS)
    final = max(answers, key=lambda a: a["instance"]["version"])
    assert final["instance"]["version"] == 1 + len(FIELDS)
    values = final["instance"]["record"]["values"]
    assert {f: values[f] for f in FIELDS} == {f: f"value {n}" for n, f in enumerate(FIELDS)}


async def test_a_stale_version_is_a_conflict_naming_it(gql: Any) -> None:
    instance = await _ready_to_advance(gql)
    moved = await _run(gql, ADVANCE, instanceId=instance, expectedVersion=1)
    assert moved["__typename"] == "StageAdvanced"
    stale = await _run(gql, ADVANCE, instanceId=instance, expectedVersion=1)
    assert stale["__typename"] == "VersionConflict"
    assert (stale["expectedVersion"], stale["currentVersion"]) == (1, 2)

    record = moved["instance"]["record"]
    ids = {p["key"]: p["id"] for p in (await gql.execute(PROCESSES))["processes"]}
    switched = await _run(
        gql,
        SWITCH,
        recordId=record["id"],
        processId=ids["enterprise-deal"],
        expectedVersion=record["version"] - 1,
    )
    assert switched["__typename"] == "VersionConflict"
    assert switched["expectedVersion"] == record["version"] - 1
    assert switched["currentVersion"] == record["version"]


async def test_one_key_one_outcome_for_fifty_callers_at_once(gql: Any) -> None:
    instance = await _ready_to_advance(gql)
    answers = await asyncio.gather(
        *(_run(gql, ADVANCE, instanceId=instance, idempotencyKey="advance-once") for _ in range(50))
    )
    assert {a["__typename"] for a in answers} == {"StageAdvanced"}
    assert len({a["event"]["seq"] for a in answers}) == 1
    assert await _events_with_key("advance-once") == 1
    assert {a["instance"]["activeStage"]["key"] for a in answers} == {"develop"}


async def test_a_key_with_another_request_is_refused(gql: Any) -> None:
    instance = await _ready_to_advance(gql)
    other = await _ready_to_advance(gql)
    first = await _run(
        gql,
        COMPLETE_STEP,
        instanceId=instance,
        field="purchase_process",
        value="Individual",
        idempotencyKey="k",
    )
    assert first["__typename"] == "StepCompleted"
    same = await _run(
        gql,
        COMPLETE_STEP,
        instanceId=instance,
        field="purchase_process",
        value="Individual",
        idempotencyKey="k",
    )
    assert same["event"]["seq"] == first["event"]["seq"]
    for changed in (
        {
            "instanceId": instance,
            "field": "purchase_process",
            "value": "Committee",
        },  # another value
        {"instanceId": instance, "field": "estimated_budget", "value": 1},  # another field
        {
            "instanceId": other,
            "field": "purchase_process",
            "value": "Individual",
        },  # another instance
    ):
        refused = await _run(gql, COMPLETE_STEP, idempotencyKey="k", **changed)
        assert (refused["__typename"], refused.get("code")) == (
            "InvalidTransition",
            "IDEMPOTENCY_KEY_REUSED",
        ), changed
    another_kind = await _run(gql, ADVANCE, instanceId=instance, idempotencyKey="k")
    assert another_kind["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _events_with_key("k") == 1
    assert await EventRow.filter(instance_id=other, kind="STEP_COMPLETED").count() == 0


async def test_keys_belong_to_the_user_who_sent_them(gql: Any) -> None:
    instance = await _ready_to_advance(gql)
    mine = await _run(
        gql,
        COMPLETE_STEP,
        instanceId=instance,
        field="purchase_process",
        value="Individual",
        idempotencyKey="s",
    )
    theirs = await _run(
        gql,
        COMPLETE_STEP,
        user="other",
        instanceId=instance,
        field="purchase_process",
        value="Committee",
        idempotencyKey="s",
    )
    assert mine["__typename"] == theirs["__typename"] == "StepCompleted"
    assert theirs["event"]["seq"] > mine["event"]["seq"]
    assert theirs["instance"]["record"]["values"]["purchase_process"] == "Committee"
    assert await _events_with_key("s") == 2


async def test_a_key_must_be_one_to_two_hundred_printable_characters(gql: Any) -> None:
    instance = await _ready_to_advance(gql)
    before = await EventRow.all().count()
    for key in ("", "x" * 201, "bad\u0000key", "tab\tkey"):
        for _ in range(2):  # a refused key leaves nothing behind to trip the next caller
            refused = await _run(
                gql,
                COMPLETE_STEP,
                instanceId=instance,
                field="purchase_process",
                value="Individual",
                idempotencyKey=key,
            )
            assert (refused["__typename"], refused["field"]) == ("InvalidValue", "idempotencyKey")
    assert await EventRow.all().count() == before
    longest = await _run(
        gql,
        COMPLETE_STEP,
        instanceId=instance,
        field="purchase_process",
        value="Individual",
        idempotencyKey="x" * 200,
    )
    assert longest["__typename"] == "StepCompleted"
    unkeyed = await _run(
        gql, COMPLETE_STEP, instanceId=instance, field="purchase_process", value="Committee"
    )
    assert unkeyed["__typename"] == "StepCompleted"
