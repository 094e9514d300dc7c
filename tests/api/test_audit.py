"""Every change writes exactly one event; races and retries never lose or double a change."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, EVENTS, INSTANCE, START
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from server.db import store
from server.domain.events import Event, EventKind
from server.services.runtime import utcnow


async def _started(gql: Any, **values: Any) -> dict[str, Any]:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Litware", "values": values}}
    )
    record_id = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": record_id}})
    return started["startInstance"]["instance"]  # type: ignore[no-any-return]


async def _events(gql: Any) -> list[dict[str, Any]]:
    return (await gql.execute(EVENTS, {"after": 0}))["events"]  # type: ignore[no-any-return]


async def test_each_change_writes_one_event_with_gap_free_seq(gql: Any) -> None:
    instance = await _started(gql, estimated_budget=100)
    iid = instance["id"]
    step = await gql.execute(
        COMPLETE_STEP,
        {"input": {"instanceId": iid, "field": "decision_maker_identified", "value": True}},
        user="maria",
    )
    await gql.execute(ADVANCE, {"input": {"instanceId": iid}}, user="maria")
    await gql.execute(ADVANCE, {"input": {"instanceId": iid}})  # refused by the gate: no event

    events = await _events(gql)
    assert [e["kind"] for e in events] == [
        "RECORD_CREATED",
        "INSTANCE_STARTED",
        "STEP_COMPLETED",
        "STAGE_ADVANCED",
    ]
    assert [e["seq"] for e in events] == list(range(1, 5))
    assert [e["actor"] for e in events] == ["demo", "demo", "maria", "maria"]
    assert events[3]["fromStage"] == "qualify" and events[3]["toStage"] == "develop"
    assert {e["instanceId"] for e in events[1:]} == {iid}
    completed = step["completeStep"]["event"]
    assert completed["before"] == {"values": {"decision_maker_identified": None}}
    assert completed["after"] == {"values": {"decision_maker_identified": True}}


MOVES_OF = """query($record: ID!, $kinds: [EventKind!]) {
  events(recordId: $record, kinds: $kinds) { kind seq } }"""


NEWEST_OF = """query($record: ID!, $kinds: [EventKind!], $first: Int!) {
  events(recordId: $record, kinds: $kinds, first: $first, newest: true) { kind seq } }"""


async def test_the_trail_is_read_by_kinds(gql: Any) -> None:
    instance = await _started(gql, estimated_budget=100)
    iid = instance["id"]
    record = (await gql.execute(INSTANCE, {"id": iid}))["instance"]["record"]["id"]
    await gql.execute(
        COMPLETE_STEP,
        {"input": {"instanceId": iid, "field": "decision_maker_identified", "value": True}},
    )
    await gql.execute(ADVANCE, {"input": {"instanceId": iid}})

    every = (await gql.execute(MOVES_OF, {"record": record}))["events"]
    assert [e["kind"] for e in every] == [
        "RECORD_CREATED",
        "INSTANCE_STARTED",
        "STEP_COMPLETED",
        "STAGE_ADVANCED",
    ]
    moves = await gql.execute(
        MOVES_OF, {"record": record, "kinds": ["INSTANCE_STARTED", "STAGE_ADVANCED"]}
    )
    assert [e["kind"] for e in moves["events"]] == ["INSTANCE_STARTED", "STAGE_ADVANCED"]
    assert [e["seq"] for e in moves["events"]] == [every[1]["seq"], every[3]["seq"]]
    none = await gql.execute(MOVES_OF, {"record": record, "kinds": []})
    assert none["events"] == []
    # The newest of them, still oldest first.
    last_two = await gql.execute(NEWEST_OF, {"record": record, "first": 2})
    assert [e["seq"] for e in last_two["events"]] == [every[2]["seq"], every[3]["seq"]]
    newest_move = await gql.execute(
        NEWEST_OF, {"record": record, "first": 1, "kinds": ["INSTANCE_STARTED", "STEP_COMPLETED"]}
    )
    assert [e["kind"] for e in newest_move["events"]] == ["STEP_COMPLETED"]


async def test_a_failed_change_rolls_back_and_is_not_announced(gql: Any, app: Any) -> None:
    instance = await _started(gql)
    bus = app.state.runtime.bus
    announced = bus.last_seq
    before = await _events(gql)

    with pytest.raises(RuntimeError):
        async with in_transaction():
            await store.append_event(
                Event(kind=EventKind.RECORD_UPDATED, actor="demo", at=utcnow(), record_id=1)
            )
            raise RuntimeError("the change fails after writing")

    assert await _events(gql) == before
    assert bus.last_seq == announced
    # The next change is the trail's next event. On SQLite it takes the rolled-back seq
    # again; on PostgreSQL that seq stays unused (a sequence lets writers commit side by side).
    after = await gql.execute(ADVANCE, {"input": {"instanceId": instance["id"]}})
    assert after["advanceStage"]["__typename"] == "StageGateBlocked"
    step = await gql.execute(
        COMPLETE_STEP,
        {"input": {"instanceId": instance["id"], "field": "estimated_budget", "value": 10}},
    )
    seq = step["completeStep"]["event"]["seq"]
    skipped = 1 if get_connection("default").capabilities.dialect == "postgres" else 0
    assert seq == before[-1]["seq"] + 1 + skipped
    assert [e["seq"] for e in await _events(gql)] == [e["seq"] for e in before] + [seq]
    assert bus.last_seq == seq


async def test_idempotency_key_applies_a_change_once(gql: Any) -> None:
    instance = await _started(gql, estimated_budget=100, decision_maker_identified=True)
    input = {"instanceId": instance["id"], "idempotencyKey": "advance-7f3a"}
    first = (await gql.execute(ADVANCE, {"input": input}))["advanceStage"]
    again = (await gql.execute(ADVANCE, {"input": input}))["advanceStage"]

    assert first["__typename"] == again["__typename"] == "StageAdvanced"
    assert again["event"]["seq"] == first["event"]["seq"]
    assert again["instance"]["activeStage"]["key"] == "develop"
    kinds = [e["kind"] for e in await _events(gql)]
    assert kinds.count("STAGE_ADVANCED") == 1

    reused = await gql.execute(
        COMPLETE_STEP,
        {
            "input": {
                "instanceId": instance["id"],
                "field": "customer_need",
                "value": "x",
                "idempotencyKey": "advance-7f3a",
            }
        },
    )
    assert reused["completeStep"]["__typename"] == "InvalidTransition"
    assert reused["completeStep"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_concurrent_advances_on_one_version_let_exactly_one_win(gql: Any) -> None:
    instance = await _started(gql, estimated_budget=100, decision_maker_identified=True)
    fetched = (await gql.execute(INSTANCE, {"id": instance["id"]}))["instance"]
    input = {"instanceId": instance["id"], "expectedVersion": fetched["version"]}

    results = await asyncio.gather(*(gql.execute(ADVANCE, {"input": input}) for _ in range(4)))

    names = sorted(r["advanceStage"]["__typename"] for r in results)
    assert names == ["StageAdvanced", "VersionConflict", "VersionConflict", "VersionConflict"]
    final = (await gql.execute(INSTANCE, {"id": instance["id"]}))["instance"]
    assert final["activeStage"]["key"] == "develop"
    assert final["version"] == fetched["version"] + 1
    assert [e["kind"] for e in await _events(gql)].count("STAGE_ADVANCED") == 1


async def test_concurrent_step_values_are_never_lost(gql: Any) -> None:
    instance = await _started(gql)
    fields = {
        "estimated_budget": 5000,
        "purchase_timeframe": "This year",
        "purchase_process": "Committee",
        "decision_maker_identified": True,
    }
    results = await asyncio.gather(
        *(
            gql.execute(
                COMPLETE_STEP,
                {"input": {"instanceId": instance["id"], "field": field, "value": value}},
            )
            for field, value in fields.items()
        )
    )
    won = {
        field
        for field, result in zip(fields, results, strict=True)
        if result["completeStep"]["__typename"] == "StepCompleted"
    }
    lost = [
        r["completeStep"] for r in results if r["completeStep"]["__typename"] != "StepCompleted"
    ]
    assert all(r["__typename"] == "VersionConflict" for r in lost)
    values = (await gql.execute(INSTANCE, {"id": instance["id"]}))["instance"]["record"]["values"]
    # Every change that reported success is kept; a refused one left nothing behind.
    assert set(values) == won
    assert [e["kind"] for e in await _events(gql)].count("STEP_COMPLETED") == len(won)
