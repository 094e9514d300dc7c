"""A process bar's answer is sent again while nothing it was built from has changed, and
only then: after each kind of change the next read is the one a full run gives."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from documents import ADVANCE, COMPLETE_STEP, UPDATE_RECORD
from making import new_instance
from users import make_user

from server.api.kept import Plan, plan_of
from server.api.schema import schema
from server.db import store
from server.db.outage import DatabaseUnavailable
from server.domain.access import BaseRole
from server.events.postgres import asyncpg_dsn

BAR_FIELDS = """id version status processVersion activeSince completedAt dueAt
  outcome { key label reasonRequired } outcomeReason completedBy
  stages { stage { key name category steps { field { key label type minimum maximum maxLength }
    required } } state }
  activeStage { key name guidance due dueBusinessDays } missingSteps { field { key label } required }
  nextStage { key } canAdvance canFinish path { key } __typename"""
BAR = f"query Bar($id: ID!) {{ instance(id: $id) {{ {BAR_FIELDS} }} }}"
# The same fields and one that is never kept: always run in full.
FULL = f"query Full($id: ID!) {{ instance(id: $id) {{ {BAR_FIELDS} history(last: 1) {{ n: enteredBy }} }} }}"


def _counts(gql: Any) -> tuple[int, int, int]:
    counts = gql.app.state.graphql.kept.counts
    return counts.kept, counts.sent, counts.stale


async def _read(gql: Any, iid: str, user: str = "demo") -> tuple[int, Any]:
    response = await gql.post(BAR, {"id": iid}, user=user)
    return response.status_code, response.json()


async def _full(gql: Any, iid: str, user: str = "demo") -> tuple[int, Any]:
    """What a full run answers for BAR's fields now."""
    response = await gql.post(FULL, {"id": iid}, user=user)
    body = response.json()
    if (body.get("data") or {}).get("instance"):
        del body["data"]["instance"]["history"]
    return response.status_code, body


async def test_a_bar_read_again_is_sent_as_kept_after_one_statement(
    gql: Any, count_queries: Any
) -> None:
    iid = await new_instance(gql)
    first = await _read(gql, iid)
    before = _counts(gql)
    with count_queries() as statements:
        again = await _read(gql, iid)
    assert again == first
    assert _counts(gql) == (before[0], before[1] + 1, before[2])
    assert len(statements) == 1, statements  # the versions of the instance and its record


async def test_after_every_kind_of_change_the_next_read_is_a_full_runs_answer(gql: Any) -> None:
    iid = await new_instance(gql)

    async def same() -> Any:
        kept = await _read(gql, iid)
        kept_again = await _read(gql, iid)
        full = await _full(gql, iid)
        assert kept == kept_again == full
        return kept[1]["data"]["instance"]

    start = await same()
    sent = _counts(gql)[1]
    assert (await same()) == start and _counts(gql)[1] > sent

    async def step(field: str, value: Any) -> None:
        done = await gql.execute(
            COMPLETE_STEP, {"input": {"instanceId": iid, "field": field, "value": value}}
        )
        assert done["completeStep"]["__typename"] == "StepCompleted"

    await step("estimated_budget", 1000)
    budget = await same()
    assert budget["version"] > start["version"]
    assert len(budget["missingSteps"]) == len(start["missingSteps"]) - 1

    await step("decision_maker_identified", True)
    ready = await same()
    assert ready["canAdvance"] and not start["canAdvance"]

    moved = await gql.execute(ADVANCE, {"input": {"instanceId": iid}})
    assert moved["advanceStage"]["__typename"] == "StageAdvanced"
    advanced = await same()
    assert advanced["activeStage"]["key"] == start["nextStage"]["key"]

    # The record edited outside the steps: the instance's version stays, the record's moves.
    record = (
        await gql.execute(
            "query($id: ID!) { instance(id: $id) { record { id version } } }", {"id": iid}
        )
    )["instance"]["record"]
    stale = _counts(gql)[2]
    edited = await gql.execute(
        UPDATE_RECORD,
        {
            "input": {
                "recordId": record["id"],
                "values": {"estimated_budget": None},
                "expectedVersion": record["version"],
            }
        },
    )
    assert edited["updateRecord"]["__typename"] == "RecordUpdated", edited
    await same()
    assert _counts(gql)[2] > stale

    # A change to the catalog (a new field) makes every kept answer run again.
    stale = _counts(gql)[2]
    saved = await gql.execute(
        "mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename } }",
        {"input": {"entity": "opportunity", "key": "kept_note", "label": "Note", "type": "TEXT"}},
    )
    assert saved["saveField"]["__typename"] == "FieldSaved"
    await same()
    assert _counts(gql)[2] > stale


QUICK = {
    "key": "quick",
    "name": "Quick",
    "entity": "opportunity",
    "outcomes": [{"key": "lost", "label": "Lost", "reason": "required"}],
    "stages": [{"key": "close", "name": "Close", "category": "CLOSE", "steps": []}],
}


async def test_a_kept_bar_tells_how_it_ended_and_forgets_it_on_reactivation(gql: Any) -> None:
    imported = await gql.execute(
        """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
        ... on ProcessImported { process { id } } } }""",
        {"input": {"definition": QUICK, "publish": True}},
    )
    process = imported["importProcess"]["process"]["id"]
    record = await gql.execute(
        """mutation { createRecord(input: {entity: "opportunity", name: "Q"}) {
        ... on RecordCreated { record { id } } } }"""
    )
    started = await gql.execute(
        """mutation($r: ID!, $p: ID) { startInstance(input: {recordId: $r, processId: $p}) {
        ... on InstanceStarted { instance { id } } } }""",
        {"r": record["createRecord"]["record"]["id"], "p": process},
    )
    iid = started["startInstance"]["instance"]["id"]

    async def same() -> Any:
        sent = _counts(gql)[1]
        kept = await _read(gql, iid)
        assert kept == await _read(gql, iid) == await _full(gql, iid)
        assert _counts(gql)[1] > sent, "sent as kept"
        return kept[1]["data"]["instance"]

    assert (await same())["outcome"] is None
    finished = await gql.execute(
        """mutation($id: ID!) { finishInstance(input: {instanceId: $id, outcome: "lost",
        reason: "Too dear"}) { __typename } }""",
        {"id": iid},
    )
    assert finished["finishInstance"]["__typename"] == "InstanceFinished"
    ended = await same()
    assert ended["outcome"] == {"key": "lost", "label": "Lost", "reasonRequired": True}
    assert (ended["outcomeReason"], ended["completedBy"]) == ("Too dear", "demo")
    await gql.execute(
        "mutation($id: ID!) { reactivateInstance(input: {instanceId: $id}) { __typename } }",
        {"id": iid},
    )
    back = await same()
    assert (back["outcome"], back["outcomeReason"], back["completedBy"]) == (None, None, None)


async def test_a_user_who_may_no_longer_run_the_process_is_not_sent_the_kept_answer(
    gql: Any,
) -> None:
    iid = await new_instance(gql)
    gql.tokens["ann"] = (await make_user("ann", BaseRole.USER))[1]
    process = (
        await gql.execute("query($id: ID!) { instance(id: $id) { process { id } } }", {"id": iid})
    )["instance"]["process"]["id"]
    status, seen = await _read(gql, iid, user="ann")
    assert status == 200 and seen["data"]["instance"]["id"] == iid
    await _read(gql, iid, user="ann")  # kept now
    roles = await gql.execute(
        'mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["support"]) { __typename } }',
        {"id": process},
    )
    assert roles["setProcessRoles"]["__typename"] == "ProcessRolesSet"
    assert await _read(gql, iid, user="ann") == (200, {"data": {"instance": None}})


async def test_a_revoked_token_is_not_sent_the_kept_answer(gql: Any) -> None:
    iid = await new_instance(gql)
    await _read(gql, iid, user="ann")
    status, kept = await _read(gql, iid, user="ann")
    assert status == 200 and kept["data"]["instance"]["id"] == iid
    mine = await gql.execute("{ apiTokens(first: 10) { id } }", user="ann")
    [token] = mine["apiTokens"]
    revoked = await gql.execute(
        "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }",
        {"id": token["id"]},
        user="ann",
    )
    assert revoked["revokeApiToken"]["__typename"] == "ApiTokenRevoked", revoked
    status, refused = await _read(gql, iid, user="ann")
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_each_user_and_each_id_has_its_own_answer(gql: Any) -> None:
    one, two = await new_instance(gql, "One"), await new_instance(gql, "Two")
    for _ in range(2):
        assert (await _read(gql, one))[1]["data"]["instance"]["id"] == one
        assert (await _read(gql, two))[1]["data"]["instance"]["id"] == two
        assert (await _read(gql, one, user="bo"))[1]["data"]["instance"]["id"] == one
    # Another document with the same variable: its own answer.
    other = "query Other($id: ID!) { instance(id: $id) { version } }"
    for _ in range(2):
        assert (await gql.post(other, {"id": one})).json() == {"data": {"instance": {"version": 1}}}
        assert (await _read(gql, one))[1]["data"]["instance"]["id"] == one
    # The same id spelled as a number, and an id that names nothing.
    assert (await gql.post(BAR, {"id": int(one)})).json() == (await _read(gql, one))[1]
    assert (await gql.post(BAR, {"id": "999999"})).json() == {"data": {"instance": None}}


KEPT = [
    BAR,
    '{ instance(id: "7") { id stages { state } } }',
    "query($i: ID) { instance(id: $i) { canAdvance } }",
]
NOT_KEPT = [
    "query($id: ID!) { instance(id: $id) { id record { name } } }",
    "query($id: ID!) { instance(id: $id) { id process { name } } }",
    "query($id: ID!) { instance(id: $id) { history { enteredAt } } }",
    "query($id: ID!) { instance(id: $id) { events { seq } } }",
    "query($id: ID!) { instance(id: $id) { id ... on Instance { version } } }",
    "query($id: ID!, $x: Boolean!) { instance(id: $id) { id @include(if: $x) } }",
    "query($id: ID!) { a: instance(id: $id) { id } b: instance(id: $id) { id } }",
    "query($id: ID!) { instance(id: $id) { id } me { name } }",
    "query($id: ID! = 1) { instance(id: $id) { id } }",
    "mutation($id: ID!) { advanceStage(input: {instanceId: $id}) { __typename } }",
    "query A($id: ID!) { instance(id: $id) { id } } query B { me { name } }",
    "query($id: String!) { instance(id: $id) { id } }",
    "query($id: ID!) { instance(id: $id) { id",
]


@pytest.mark.parametrize("document", KEPT)
def test_a_document_of_the_bar_alone_may_be_kept(document: str) -> None:
    assert isinstance(plan_of(schema._schema, document, None), Plan)


@pytest.mark.parametrize("document", NOT_KEPT)
def test_any_other_document_runs_in_full(document: str) -> None:
    assert plan_of(schema._schema, document, None) is None


@pytest.mark.parametrize(
    "variables",
    [None, {}, {"id": "01"}, {"id": "1", "x": 1}, {"id": True}, {"id": "9" * 11}, {"id": -1}],
)
def test_ids_not_spelled_as_a_bar_spells_them_run_in_full(variables: Any) -> None:
    plan = plan_of(schema._schema, BAR, "Bar")
    assert plan is not None and plan.instance_id(variables) is None
    assert plan.instance_id({"id": "12"}) == plan.instance_id({"id": 12}) == "12"


async def test_fifty_clients_writing_and_reading_each_see_their_own_write(gql: Any) -> None:
    """Concurrent steps and bar reads on one instance: a read after a write shows at least
    the write's version, whatever was kept meanwhile."""
    iid = await new_instance(gql)
    await _read(gql, iid)

    async def client(n: int) -> tuple[int, int]:
        done = await gql.execute(
            COMPLETE_STEP, {"input": {"instanceId": iid, "field": "estimated_budget", "value": n}}
        )
        written = done["completeStep"]["instance"]["version"]
        status, seen = await _read(gql, iid)
        assert status == 200, seen
        return written, seen["data"]["instance"]["version"]

    outcomes = await asyncio.gather(*(client(n) for n in range(50)))
    assert all(read >= written for written, read in outcomes), outcomes
    versions = sorted(written for written, _ in outcomes)
    assert versions == list(range(versions[0], versions[0] + 50))  # each write made one
    last = await _read(gql, iid)
    assert last == await _read(gql, iid) == await _full(gql, iid)
    assert last[1]["data"]["instance"]["version"] == versions[-1]


async def test_a_kept_answer_whose_check_meets_no_database_is_a_503(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid = await new_instance(gql)
    await _read(gql, iid)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable()

    monkeypatch.setattr(store, "bar_versions", away)
    response = await gql.post(BAR, {"id": iid})
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"


@pytest.mark.postgres
async def test_a_kept_answer_is_checked_on_a_new_connection_after_the_old_ones_drop(
    gql: Any, database_url: str
) -> None:
    iid = await new_instance(gql)
    first = await _read(gql, iid)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    assert killed >= 1
    sent = _counts(gql)[1]
    assert await _read(gql, iid) == first
    assert _counts(gql)[1] == sent + 1  # sent as kept, after its check ran again
