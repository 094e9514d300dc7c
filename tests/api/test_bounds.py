"""A field's minimum and maximum, shown by the API and enforced on every write of a value:
completeStep, updateRecord and createRecord; designers declare them with saveField."""

from __future__ import annotations

from typing import Any

import pytest
from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, UPDATE_RECORD
from making import new_instance

from server.db import store
from server.db.models import EntityRow, EventRow, InstanceRow, RecordRow

FIELDS = """query { entities { key fields { key type minimum maximum maxLength } } }"""
SAVE_FIELD = """
mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename
  ... on FieldSaved { entity { key fields { key minimum maximum maxLength } } }
  ... on InvalidDefinition { problems { path message } } } }
"""


async def _fields(gql: Any, entity: str) -> dict[str, dict[str, Any]]:
    found = (await gql.execute(FIELDS))["entities"]
    return {f["key"]: f for e in found if e["key"] == entity for f in e["fields"]}


async def _snapshot() -> tuple[Any, ...]:
    records = await RecordRow.all().order_by("id").values_list("id", "version", "values")
    instances = await InstanceRow.all().order_by("id").values_list("id", "version")
    return tuple(records), tuple(instances), await EventRow.all().count()


async def test_the_api_shows_each_fields_bounds_and_length(gql: Any) -> None:
    fields = await _fields(gql, "opportunity")
    budget, probability = fields["estimated_budget"], fields["probability"]
    assert (budget["minimum"], budget["maximum"], budget["maxLength"]) == ("0", None, None)
    assert (probability["minimum"], probability["maximum"]) == ("0", "100")
    need = fields["customer_need"]
    assert (need["type"], need["maxLength"], need["minimum"]) == ("TEXT", 4000, None)
    assert fields["proposal_sent_date"]["maxLength"] is None
    money = [f for f in fields.values() if f["type"] == "MONEY"]
    assert money and all(f["minimum"] == "0" for f in money)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("estimated_budget", -5, "must be at least 0"),
        ("estimated_budget", "-0.01", "must be at least 0"),
        ("estimated_budget", "lots", "is not a valid amount"),
        ("decision_maker_identified", "yes", "must be yes or no"),
    ],
)
async def test_complete_step_refuses_a_value_out_of_bounds_and_changes_nothing(
    gql: Any, field: str, value: Any, reason: str
) -> None:
    instance = await new_instance(gql)
    before = await _snapshot()
    data = await gql.execute(
        COMPLETE_STEP, {"input": {"instanceId": instance, "field": field, "value": value}}
    )
    refused = data["completeStep"]
    assert refused["__typename"] == "InvalidValue"
    assert (refused["field"], refused["reason"]) == (field, reason)
    assert refused["message"] == f"{field}: {reason}"
    assert await _snapshot() == before


async def test_a_value_on_its_bound_is_taken_and_satisfies_the_gate(gql: Any) -> None:
    instance = await new_instance(gql)
    for field, value in (("estimated_budget", 0), ("decision_maker_identified", True)):
        data = await gql.execute(
            COMPLETE_STEP, {"input": {"instanceId": instance, "field": field, "value": value}}
        )
        assert data["completeStep"]["__typename"] == "StepCompleted", data
    assert data["completeStep"]["instance"]["record"]["values"]["estimated_budget"] == "0.00"
    assert data["completeStep"]["instance"]["canAdvance"] is True


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("estimated_revenue", "-1000", "must be at least 0"),
        ("probability", 101, "must be at most 100"),
        ("discount_percent", -0.5, "must be at least 0"),
        ("customer_need", "x" * 4001, "is longer than 4000 characters"),
    ],
)
async def test_update_record_refuses_a_value_out_of_bounds_and_changes_nothing(
    gql: Any, field: str, value: Any, reason: str
) -> None:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Deal", "values": {}}}
    )
    record = created["createRecord"]["record"]["id"]
    before = await _snapshot()
    values = {"proposed_solution": "Fleet", field: value}
    data = await gql.execute(UPDATE_RECORD, {"input": {"recordId": record, "values": values}})
    refused = data["updateRecord"]
    assert refused["__typename"] == "InvalidValue"
    assert (refused["field"], refused["reason"]) == (field, reason)
    assert await _snapshot() == before
    ok = await gql.execute(
        UPDATE_RECORD, {"input": {"recordId": record, "values": {"estimated_revenue": "0.00"}}}
    )
    assert ok["updateRecord"]["__typename"] == "RecordUpdated"


async def test_create_record_refuses_a_value_out_of_bounds_and_creates_nothing(
    gql: Any,
) -> None:
    before = await _snapshot()
    values = {"employee_count": -3}
    data = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "lead", "name": "Inbound", "values": values}}
    )
    refused = data["createRecord"]
    assert refused["__typename"] == "InvalidValue"
    assert (refused["field"], refused["reason"]) == ("employee_count", "must be at least 0")
    assert await _snapshot() == before
    unknown = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "lead", "name": "I", "values": {"colour": "red"}}}
    )
    assert unknown["createRecord"]["reason"] == "is not a field of Lead"


async def test_a_designer_declares_bounds_on_a_new_field_and_every_write_keeps_them(
    gql: Any,
) -> None:
    seats = {
        "entity": "opportunity",
        "key": "seats",
        "label": "Seats",
        "type": "NUMBER",
        "minimum": "1",
        "maximum": "500.5",
    }
    saved = (await gql.execute(SAVE_FIELD, {"input": seats}, user="designer"))["saveField"]
    assert saved["__typename"] == "FieldSaved", saved
    shown = {f["key"]: f for f in saved["entity"]["fields"]}["seats"]
    assert (shown["minimum"], shown["maximum"], shown["maxLength"]) == ("1", "500.5", None)
    assert (await _fields(gql, "opportunity"))["seats"]["maximum"] == "500.5"

    refused = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "D", "values": {"seats": 0}}}
    )
    assert refused["createRecord"]["reason"] == "must be at least 1"
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "D", "values": {"seats": 500}}}
    )
    record = created["createRecord"]["record"]["id"]
    over = await gql.execute(
        UPDATE_RECORD, {"input": {"recordId": record, "values": {"seats": 501}}}
    )
    assert (over["updateRecord"]["field"], over["updateRecord"]["reason"]) == (
        "seats",
        "must be at most 500.5",
    )

    # Loosened later: the new bound holds from then on.
    loose = (await gql.execute(SAVE_FIELD, {"input": {**seats, "maximum": None}}, user="designer"))[
        "saveField"
    ]
    assert {f["key"]: f for f in loose["entity"]["fields"]}["seats"]["maximum"] is None
    taken = await gql.execute(
        UPDATE_RECORD, {"input": {"recordId": record, "values": {"seats": 10_000}}}
    )
    assert taken["updateRecord"]["__typename"] == "RecordUpdated"


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"type": "NUMBER", "minimum": "10", "maximum": "9"},
            "minimum",
            "the minimum is more than the maximum",
        ),
        (
            {"type": "TEXT", "minimum": "0"},
            "minimum",
            "only number and money fields have a minimum or maximum",
        ),
        (
            {"type": "MONEY", "maximum": "ten"},
            "maximum",
            "the maximum is not a number within the field's range",
        ),
        (
            {"type": "MONEY", "minimum": "0.005"},
            "minimum",
            "the minimum is not a number within the field's range",
        ),
    ],
)
async def test_bounds_that_cannot_hold_are_refused_and_change_nothing(
    gql: Any, change: dict[str, Any], path: str, message: str
) -> None:
    before = await EntityRow.get(key="opportunity")
    events = await EventRow.all().count()
    field = {"entity": "opportunity", "key": "seats", "label": "Seats", **change}
    refused = (await gql.execute(SAVE_FIELD, {"input": field}, user="designer"))["saveField"]
    assert refused["__typename"] == "InvalidDefinition"
    assert refused["problems"] == [{"path": path, "message": message}]
    assert (await EntityRow.get(key="opportunity")).fields_ == before.fields_
    assert await EventRow.all().count() == events


async def test_a_negative_budget_stored_before_the_bound_does_not_pass_the_gate(
    gql: Any,
) -> None:
    instance = await new_instance(gql)
    done = await gql.execute(
        COMPLETE_STEP,
        {"input": {"instanceId": instance, "field": "decision_maker_identified", "value": True}},
    )
    assert done["completeStep"]["__typename"] == "StepCompleted"
    row = await InstanceRow.get(id=int(instance))
    record = await RecordRow.get(id=row.record_id)
    # As a database from before the bound holds it.
    await RecordRow.filter(id=record.id).update(
        values={**record.values, "estimated_budget": "-5.00"}, version=record.version + 1
    )
    moved = await gql.execute(ADVANCE, {"input": {"instanceId": instance}})
    blocked = moved["advanceStage"]
    assert blocked["__typename"] == "StageGateBlocked"
    assert [s["field"]["key"] for s in blocked["missingSteps"]] == ["estimated_budget"]


@pytest.mark.postgres
async def test_a_step_within_bounds_is_still_written_in_one_statement(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await new_instance(gql)
    at_once, locked = [], []
    write, save = store.write_at_once, store.save_record_and_instance

    async def counted_write(*args: Any, **kw: Any) -> Any:
        at_once.append(await write(*args, **kw))
        return at_once[-1]

    async def counted_save(*args: Any, **kw: Any) -> Any:
        locked.append(args)
        return await save(*args, **kw)

    monkeypatch.setattr(store, "write_at_once", counted_write)
    monkeypatch.setattr(store, "save_record_and_instance", counted_save)
    for value in (0, 250, "1250.50"):
        done = await gql.execute(
            COMPLETE_STEP,
            {"input": {"instanceId": instance, "field": "estimated_budget", "value": value}},
        )
        assert done["completeStep"]["__typename"] == "StepCompleted"
    refused = await gql.execute(
        COMPLETE_STEP, {"input": {"instanceId": instance, "field": "estimated_budget", "value": -1}}
    )
    assert refused["completeStep"]["reason"] == "must be at least 0"
    assert len(at_once) == 3 and all(event is not None for event in at_once)
    assert locked == []
    row = await InstanceRow.get(id=int(instance))
    assert (row.outcome, row.completed_by) == (None, None)


CURRENCIES = """query { entities { key fields { key type currency } } }"""
SAVE_MONEY = """
mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename
  ... on FieldSaved { entity { key fields { key currency } } }
  ... on InvalidDefinition { problems { path message } } } }
"""


async def test_money_fields_say_their_currency_and_designers_declare_it(gql: Any) -> None:
    entities = (await gql.execute(CURRENCIES))["entities"]
    fields = [f for e in entities for f in e["fields"]]
    money = [f for f in fields if f["type"] == "MONEY"]
    assert money and all(f["currency"] == "USD" for f in money)
    assert all(f["currency"] is None for f in fields if f["type"] != "MONEY")

    fee = {"entity": "opportunity", "key": "fee", "label": "Fee", "type": "MONEY"}
    saved = await gql.execute(SAVE_MONEY, {"input": fee | {"currency": "EUR"}}, user="designer")
    shown = {f["key"]: f for f in saved["saveField"]["entity"]["fields"]}
    assert shown["fee"]["currency"] == "EUR"
    before = await EntityRow.all().values_list("key", "fields_")
    for field, problem in [
        (fee | {"currency": "eur"}, "use a three-letter ISO 4217 code, such as EUR or USD"),
        (fee | {"type": "NUMBER", "currency": "EUR"}, "only money fields have a currency"),
    ]:
        refused = (await gql.execute(SAVE_MONEY, {"input": field}, user="designer"))["saveField"]
        assert refused["__typename"] == "InvalidDefinition", refused
        assert [p["message"] for p in refused["problems"]] == [problem]
    assert await EntityRow.all().values_list("key", "fields_") == before
