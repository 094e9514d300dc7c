"""Lookup fields: a value names a record of the field's target entity that the user may see;
anything else is refused as InvalidValue, the same way for a record that does not exist and
one out of the user's sight, and nothing is written.

Lead to Opportunity is restricted to the `sales` team: a lead running it is out of sight
for `outsider`, while `member` (in `sales`) sees it. A lead with no process is seen by all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from documents import CREATE_RECORD, UPDATE_RECORD
from users import make_user

from server.domain.access import BaseRole
from server.services import accounts

START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) { __typename } }"""
STATE = """{ lastEventSeq
  records(first: 100) { totalCount edges { node { id name values version } } } }"""
SAVE_FIELD = """mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename
  ... on FieldSaved { entity { key fields { key type target } } }
  ... on FieldInUse { field processes }
  ... on InvalidDefinition { problems { path message } } } }"""
ENTITIES = "{ entities { key fields { key type target } } }"
IMPORT = """mutation($input: ImportProcessInput!) { importProcess(input: $input) { __typename
  ... on InvalidDefinition { problems { path message } } } }"""

HIDDEN_OR_MISSING = "names no lead record you can see"


@dataclass
class Place:
    gql: Any
    hidden_lead: int  # runs Lead to Opportunity: only `member` and admins see it
    open_lead: int  # no process: everyone sees it
    case: int

    async def answer(self, user: str, query: str, **variables: Any) -> dict[str, Any]:
        return await self.gql.execute(query, variables, user=user)  # type: ignore[no-any-return]

    async def create(self, user: str, values: dict[str, Any], entity: str = "opportunity") -> Any:
        done = await self.answer(
            user, CREATE_RECORD, input={"entity": entity, "name": "Deal", "values": values}
        )
        return done["createRecord"]

    async def update(self, user: str, record: str, values: dict[str, Any]) -> Any:
        done = await self.answer(user, UPDATE_RECORD, input={"recordId": record, "values": values})
        return done["updateRecord"]

    async def state(self) -> dict[str, Any]:
        return await self.answer("root", STATE)


@pytest.fixture
async def place(gql: Any) -> Place:
    _, gql.tokens["member"] = await make_user("member", BaseRole.USER, frozenset({"sales"}))
    _, gql.tokens["outsider"] = await make_user("outsider", BaseRole.USER)
    gql.tokens["root"] = (await make_user("root"))[1]
    found = await gql.execute("{ processes { id key } }", user="root")
    lead_process = next(p["id"] for p in found["processes"] if p["key"] == "lead-to-opportunity")
    await accounts.set_process_roles(
        gql.app.state.runtime, process_id=int(lead_process), roles=["sales"], by="root"
    )
    made = []
    for entity in ("lead", "lead", "case"):
        created = await gql.execute(
            CREATE_RECORD,
            {"input": {"entity": entity, "name": f"A {entity}", "values": {}}},
            user="root",
        )
        made.append(int(created["createRecord"]["record"]["id"]))
    hidden, open_, case = made
    started = await gql.execute(
        START, {"input": {"recordId": str(hidden), "processId": lead_process}}, user="root"
    )
    assert started["startInstance"]["__typename"] == "InstanceStarted"
    return Place(gql, hidden, open_, case)


async def test_a_record_points_at_a_lead_the_user_can_see(place: Place) -> None:
    created = await place.create("outsider", {"originating_lead": str(place.open_lead)})
    assert created["__typename"] == "RecordCreated", created
    assert created["record"]["values"] == {"originating_lead": place.open_lead}
    record = created["record"]["id"]

    updated = await place.update("member", record, {"originating_lead": place.hidden_lead})
    assert updated["__typename"] == "RecordUpdated", updated
    assert updated["record"]["values"] == {"originating_lead": place.hidden_lead}
    assert updated["event"]["after"] == {"values": {"originating_lead": place.hidden_lead}}

    cleared = await place.update("outsider", record, {"originating_lead": None})
    assert cleared["__typename"] == "RecordUpdated", cleared
    assert cleared["record"]["values"] == {}


async def test_a_hidden_lead_is_refused_as_a_missing_one(place: Place) -> None:
    before = await place.state()
    answers = [
        await place.create("outsider", {"originating_lead": place.hidden_lead}),
        await place.create("outsider", {"originating_lead": str(place.hidden_lead)}),
        await place.create("outsider", {"originating_lead": 2**31 - 1}),
        await place.create("member", {"originating_lead": 2**31 - 1}),
    ]
    for answer in answers:
        assert answer == {
            "__typename": "InvalidValue",
            "message": f"originating_lead: {HIDDEN_OR_MISSING}",
            "field": "originating_lead",
            "reason": HIDDEN_OR_MISSING,
        }
    assert await place.state() == before
    seen = await place.create("member", {"originating_lead": place.hidden_lead})
    assert seen["__typename"] == "RecordCreated", seen


async def test_an_update_to_a_hidden_or_missing_lead_changes_nothing(place: Place) -> None:
    record = (await place.create("outsider", {"originating_lead": place.open_lead}))["record"]
    before = await place.state()
    for lead in (place.hidden_lead, 999_999):
        refused = await place.update(
            "outsider", record["id"], {"originating_lead": lead, "customer_need": "Laptops"}
        )
        assert refused["__typename"] == "InvalidValue", refused
        assert (refused["field"], refused["reason"]) == ("originating_lead", HIDDEN_OR_MISSING)
    assert await place.state() == before


async def test_a_lookup_kept_as_it_was_is_not_checked_again(place: Place) -> None:
    record = (await place.create("member", {"originating_lead": place.hidden_lead}))["record"]
    # The opportunity runs no process, so the outsider sees it, though not its lead.
    kept = await place.update(
        "outsider", record["id"], {"originating_lead": place.hidden_lead, "customer_need": "X"}
    )
    assert kept["__typename"] == "RecordUpdated", kept
    assert kept["record"]["values"] == {"originating_lead": place.hidden_lead, "customer_need": "X"}


async def test_a_record_of_another_entity_is_refused(place: Place) -> None:
    before = await place.state()
    refused = await place.create("root", {"originating_lead": place.case})
    assert refused["__typename"] == "InvalidValue", refused
    assert (refused["field"], refused["reason"]) == (
        "originating_lead",
        "names a case record, not a lead",
    )
    record = (await place.create("root", {}))["record"]["id"]
    middle = await place.state()
    assert (await place.update("root", record, {"originating_lead": place.case}))[
        "__typename"
    ] == "InvalidValue"
    assert await place.state() == middle != before


@pytest.mark.parametrize(
    "value",
    [True, False, 1.5, -1, 0, "lead", "-1", " 1", "", 2**31, 10**40, [1], {"id": 1}],
)
async def test_a_lookup_of_the_wrong_shape_is_refused(place: Place, value: Any) -> None:
    record = (await place.create("root", {}))["record"]["id"]
    before = await place.state()
    refused = [
        await place.create("root", {"originating_lead": value}),
        await place.update("root", record, {"originating_lead": value}),
    ]
    for answer in refused:
        assert answer["__typename"] == "InvalidValue", answer
        assert (answer["field"], answer["reason"]) == ("originating_lead", "must be a record id")
    assert await place.state() == before


async def test_every_lookup_of_a_change_is_read_in_one_statement(
    place: Place, count_queries: Any
) -> None:
    second = {"entity": "opportunity", "key": "referred_by", "label": "Referred by"}
    saved = await place.answer(
        "root", SAVE_FIELD, input={**second, "type": "LOOKUP", "target": "lead"}
    )
    assert saved["saveField"]["__typename"] == "FieldSaved", saved

    async def statements(values: dict[str, Any]) -> int:
        with count_queries() as run:
            assert (await place.create("root", values))["__typename"] == "RecordCreated"
        return len(run)

    plain = await statements({"customer_need": "Laptops"})
    one = await statements({"customer_need": "Laptops", "originating_lead": place.open_lead})
    both = await statements({"originating_lead": place.open_lead, "referred_by": place.hidden_lead})
    assert one == both == plain + 1


async def test_a_lookup_field_is_saved_with_its_target(place: Place) -> None:
    field = {"entity": "opportunity", "key": "partner_lead", "label": "Partner lead"}
    saved = await place.answer(
        "root", SAVE_FIELD, input={**field, "type": "LOOKUP", "target": "lead"}
    )
    assert saved["saveField"]["__typename"] == "FieldSaved", saved
    expected = {"key": "partner_lead", "type": "LOOKUP", "target": "lead"}
    assert expected in saved["saveField"]["entity"]["fields"]
    entities = {e["key"]: e["fields"] for e in (await place.answer("root", ENTITIES))["entities"]}
    assert expected in entities["opportunity"]
    assert {"key": "originating_lead", "type": "LOOKUP", "target": "lead"} in entities[
        "opportunity"
    ]
    assert {"key": "estimated_budget", "type": "MONEY", "target": None} in entities["opportunity"]

    # Not yet used by a published process: its target may change.
    moved = await place.answer(
        "root", SAVE_FIELD, input={**field, "type": "LOOKUP", "target": "case"}
    )
    assert {**expected, "target": "case"} in moved["saveField"]["entity"]["fields"]
    assert (await place.create("root", {"partner_lead": place.case}))["__typename"] == (
        "RecordCreated"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "LOOKUP"}, "a lookup field needs a target: the key of an entity"),
        ({"type": "LOOKUP", "target": "contact"}, "unknown entity 'contact'"),
        ({"type": "TEXT", "target": "lead"}, "only lookup fields have a target"),
    ],
)
async def test_a_lookup_field_needs_a_known_target(
    place: Place, change: dict[str, Any], problem: str
) -> None:
    before = await place.answer("root", ENTITIES)
    field = {"entity": "opportunity", "key": "partner_lead", "label": "Partner lead", **change}
    refused = (await place.answer("root", SAVE_FIELD, input=field))["saveField"]
    assert refused == {
        "__typename": "InvalidDefinition",
        "problems": [{"path": "target", "message": problem}],
    }
    assert await place.answer("root", ENTITIES) == before


async def test_a_target_published_processes_rely_on_stays(place: Place) -> None:
    field = {"entity": "opportunity", "key": "partner_lead", "label": "Partner lead"}
    await place.answer("root", SAVE_FIELD, input={**field, "type": "LOOKUP", "target": "lead"})
    definition = {
        "key": "partnered-sale",
        "name": "Partnered Sale",
        "entity": "opportunity",
        "stages": [
            {
                "key": "close",
                "name": "Close",
                "category": "CLOSE",
                "steps": [{"field": "partner_lead", "required": True}],
            }
        ],
    }
    imported = await place.answer("root", IMPORT, input={"definition": definition, "publish": True})
    assert imported["importProcess"]["__typename"] == "ProcessImported", imported
    before = await place.answer("root", ENTITIES)
    for change in ({"target": "case"}, {"type": "TEXT", "target": None}):
        refused = (
            await place.answer(
                "root", SAVE_FIELD, input={**field, "type": "LOOKUP", "target": "lead", **change}
            )
        )["saveField"]
        assert refused["__typename"] == "FieldInUse", refused
        assert refused["field"] == "partner_lead"
        assert refused["processes"] == ["Partnered Sale v1"]
    assert await place.answer("root", ENTITIES) == before
    relabelled = {**field, "label": "Partner", "type": "LOOKUP", "target": "lead"}
    kept = await place.answer("root", SAVE_FIELD, input=relabelled)
    assert kept["saveField"]["__typename"] == "FieldSaved"
