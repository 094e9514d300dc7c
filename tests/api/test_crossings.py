"""One process across two entities: Lead to Opportunity qualifies a lead, then crosses into
an opportunity (created from the lead, or an existing one linked) and works it through
Develop, Propose and Close. One instance, one bar, on both records; each stage's gate is
checked on its own record; a branch reads the lead from an opportunity stage.

The same on SQLite and PostgreSQL; on PostgreSQL the concurrent advances run in parallel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from documents import (
    CREATE_RECORD,
    FINISH,
    MOVE_TO,
    REACTIVATE,
    START,
    SWITCH,
    UPDATE_RECORD,
)
from sockets import Socket
from tortoise.connection import get_connection
from users import make_user

from server.domain.access import BaseRole
from server.events.postgres import asyncpg_dsn
from server.services import accounts, overdue

RECORDS = "{ entity record { id name owner values activeInstance { id } } }"
BAR = f"""
  id version status activeStage {{ key entity }} nextStage {{ key entity }} canAdvance
  path {{ key }} stages {{ stage {{ key entity }} state }}
  records {RECORDS}
"""
ADVANCE = f"""mutation($input: InstanceInput!, $link: ID) {{
  advanceStage(input: $input, linkRecordId: $link) {{
    __typename
    ... on InstanceChange {{ instance {{ {BAR} }} event {{ seq kind recordId after }} }}
    ... on StageGateBlocked {{ stage {{ key entity }} missingSteps {{ field {{ key }} }} }}
    ... on InvalidTransition {{ code message }}
    ... on InvalidValue {{ field reason }}
    ... on NotFound {{ kind }}
    ... on VersionConflict {{ currentVersion }}
  }} }}"""
STEP = """mutation($input: CompleteStepInput!) { completeStep(input: $input) {
  __typename ... on StepCompleted { event { record { id values } } instance { version } }
  ... on InvalidTransition { code message } ... on InvalidValue { field reason } } }"""
INSTANCE = f"query($id: ID!) {{ instance(id: $id) {{ {BAR} }} }}"
RECORD = """query($id: ID!) { record(id: $id) {
  id values activeInstance { id status activeStage { key } records { entity record { id } } }
  instances { id process { key } } } }"""
STATE = """{ lastEventSeq
  records(first: 100) { totalCount edges { node { id entity values version } } } }"""
EVENTS = """query($after: Int!) { events(afterSeq: $after) {
  seq kind recordId instanceId after } }"""

LEAD = {
    "contact_name": "Ada Byron",
    "company_name": "Analytical Engines",
    "email": "ada@engines.example",
    "source": "Web",
    "interest": "Difference engines",
    "purchase_timeframe": "This quarter",
}
# Past the branch to the qualification call: a budget of 50,000 or more.
CALL = {"qualification_call_date": "2026-06-01", "qualification_call_notes": "Keen"}


@dataclass
class Flow:
    gql: Any
    process: str

    async def ask(self, query: str, user: str = "demo", **variables: Any) -> dict[str, Any]:
        return await self.gql.execute(query, variables, user=user)  # type: ignore[no-any-return]

    async def lead(self, budget: str, user: str = "demo", **values: Any) -> tuple[str, str]:
        """A lead at Lead to Opportunity's last lead stage, its steps done; (record,
        instance)."""
        made = await self.ask(
            CREATE_RECORD,
            user,
            input={
                "entity": "lead",
                "name": f"Lead {budget}",
                "values": {**LEAD, "budget_amount": budget, **values},
            },
        )
        record = made["createRecord"]["record"]["id"]
        started = await self.ask(START, user, input={"recordId": record, "processId": self.process})
        instance = started["startInstance"]["instance"]["id"]
        for _ in range(2):  # qualify, then identify
            moved = await self.advance(instance, user=user)
            assert moved["__typename"] == "StageAdvanced", moved
        stage = moved["instance"]["activeStage"]["key"]
        fills = {**CALL, "qualified": True} if stage == "fast_track" else {}
        if stage == "discovery":
            fills = {"pain_points": "Slow sums", "fit_score": 80, "qualified": True}
        for field, value in fills.items():
            done = await self.step(instance, field, value, user=user)
            assert done["__typename"] == "StepCompleted", done
        return record, instance

    async def advance(
        self, instance: str, *, link: str | None = None, user: str = "demo", **input: Any
    ) -> dict[str, Any]:
        done = await self.ask(ADVANCE, user, input={"instanceId": instance, **input}, link=link)
        return done["advanceStage"]  # type: ignore[no-any-return]

    async def step(
        self, instance: str, field: str, value: Any, user: str = "demo", **more: Any
    ) -> Any:
        done = await self.ask(
            STEP, user, input={"instanceId": instance, "field": field, "value": value, **more}
        )
        return done["completeStep"]

    async def opportunities(self) -> list[dict[str, Any]]:
        state = await self.ask(STATE)
        nodes = [e["node"] for e in state["records"]["edges"]]
        return [n for n in nodes if n["entity"] == "opportunity"]


@pytest.fixture
async def flow(gql: Any) -> Flow:
    found = await gql.execute("{ processes { id key } }")
    process = next(p["id"] for p in found["processes"] if p["key"] == "lead-to-opportunity")
    return Flow(gql, process)


async def test_a_qualified_lead_crosses_into_a_new_opportunity(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")
    before = await flow.ask("{ lastEventSeq }")

    crossed = await flow.advance(instance)

    assert crossed["__typename"] == "StageAdvanced", crossed
    bar = crossed["instance"]
    assert bar["activeStage"] == {"key": "develop", "entity": "opportunity"}
    assert [r["entity"] for r in bar["records"]] == ["lead", "opportunity"]
    made = bar["records"][1]["record"]
    assert made["name"] == "Lead 60000.00" and made["owner"] == "demo"
    assert made["values"] == {
        "contact_name": "Ada Byron",
        "company_name": "Analytical Engines",
        "estimated_budget": "60000.00",
        "purchase_timeframe": "This quarter",
        "originating_lead": int(lead),
    }
    # One instance, one bar, on both records.
    assert [r["record"]["activeInstance"]["id"] for r in bar["records"]] == [instance, instance]
    assert {s["stage"]["key"]: s["stage"]["entity"] for s in bar["stages"]} == {
        **dict.fromkeys(["qualify", "identify", "fast_track", "discovery"], "lead"),
        **dict.fromkeys(["develop", "executive_review", "propose", "close"], "opportunity"),
    }
    # The crossing and the record it made are events, on the opportunity.
    events = (await flow.ask(EVENTS, after=before["lastEventSeq"]))["events"]
    assert [(e["kind"], e["recordId"], e["instanceId"]) for e in events] == [
        ("RECORD_CREATED", made["id"], instance),
        ("STAGE_ADVANCED", made["id"], instance),
    ]
    assert events[1]["after"]["crossed"] == {
        "entity": "opportunity",
        "recordId": int(made["id"]),
        "created": True,
    }
    assert crossed["event"]["recordId"] == made["id"]
    # The opportunity's page shows the same instance, among its own.
    shown = (await flow.ask(RECORD, id=made["id"]))["record"]
    assert shown["activeInstance"]["id"] == instance
    assert [i["id"] for i in shown["instances"]] == [instance]
    assert len(await flow.opportunities()) == 1


async def test_each_stage_is_gated_on_its_own_record(flow: Flow) -> None:
    _, instance = await flow.lead("60000.00")
    await flow.advance(instance)

    blocked = await flow.advance(instance)
    assert blocked["__typename"] == "StageGateBlocked", blocked
    assert blocked["stage"] == {"key": "develop", "entity": "opportunity"}
    assert {s["field"]["key"] for s in blocked["missingSteps"]} == {
        "customer_need",
        "estimated_close_date",
    }
    # The steps go to the opportunity; a field both entities have goes to the stage's.
    need = await flow.step(instance, "customer_need", "Faster sums")
    assert need["__typename"] == "StepCompleted", need
    bar = (await flow.ask(INSTANCE, id=instance))["instance"]
    lead, opportunity = (r["record"] for r in bar["records"])
    assert need["event"]["record"]["id"] == opportunity["id"]
    assert opportunity["values"]["customer_need"] == "Faster sums"
    assert "customer_need" not in lead["values"]
    # A lead stage's step is written to the lead, when asked for its entity.
    renamed = await flow.step(instance, "contact_name", "Ada King", entity="lead")
    assert renamed["__typename"] == "StepCompleted", renamed
    assert renamed["event"]["record"]["id"] == lead["id"]
    assert renamed["event"]["record"]["values"]["contact_name"] == "Ada King"
    unknown = await flow.step(instance, "customer_need", "x", entity="lead")
    assert unknown["__typename"] == "InvalidTransition" and "of lead" in unknown["message"]

    await flow.step(instance, "estimated_close_date", "2026-09-30")
    # The branch reads the lead's budget from the opportunity's stage.
    moved = await flow.advance(instance)
    assert moved["__typename"] == "StageAdvanced", moved
    assert moved["instance"]["activeStage"]["key"] == "executive_review"


async def test_a_small_lead_skips_the_executive_review(flow: Flow) -> None:
    _, instance = await flow.lead("20000.00", source="Referral")
    await flow.advance(instance)
    await flow.step(instance, "customer_need", "Faster sums")
    await flow.step(instance, "estimated_close_date", "2026-09-30")
    bar = (await flow.ask(INSTANCE, id=instance))["instance"]
    assert bar["nextStage"] == {"key": "propose", "entity": "opportunity"}
    moved = await flow.advance(instance)
    assert moved["instance"]["activeStage"]["key"] == "propose", moved


async def test_back_across_the_crossing_and_forward_again(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")
    crossed = await flow.advance(instance)
    opportunity = crossed["instance"]["records"][1]["record"]["id"]
    await flow.step(instance, "customer_need", "Faster sums")

    back = await flow.ask(MOVE_TO, input={"instanceId": instance, "stage": "fast_track"})
    change = back["moveToStage"]
    assert change["__typename"] == "StageMoved", change
    assert change["instance"]["activeStage"]["key"] == "fast_track"
    assert change["event"]["toStage"] == "fast_track"
    bar = (await flow.ask(INSTANCE, id=instance))["instance"]
    assert [r["record"]["id"] for r in bar["records"]] == [lead, opportunity]
    assert bar["records"][1]["record"]["values"]["customer_need"] == "Faster sums"

    again = await flow.advance(instance)
    assert again["__typename"] == "StageAdvanced", again
    assert again["instance"]["records"][1]["record"]["id"] == opportunity
    assert "crossed" not in again["event"]["after"]
    assert len(await flow.opportunities()) == 1


async def test_an_existing_opportunity_is_linked_instead(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")
    made = await flow.ask(
        CREATE_RECORD,
        input={"entity": "opportunity", "name": "Known deal", "values": {"customer_need": "X"}},
    )
    opportunity = made["createRecord"]["record"]["id"]
    before = await flow.ask("{ lastEventSeq }")

    linked = await flow.advance(instance, link=opportunity)

    assert linked["__typename"] == "StageAdvanced", linked
    records = linked["instance"]["records"]
    assert [r["record"]["id"] for r in records] == [lead, opportunity]
    assert records[1]["record"]["name"] == "Known deal"
    assert records[1]["record"]["values"] == {"customer_need": "X", "originating_lead": int(lead)}
    assert records[1]["record"]["activeInstance"] == {"id": instance}
    events = (await flow.ask(EVENTS, after=before["lastEventSeq"]))["events"]
    assert [(e["kind"], e["recordId"]) for e in events] == [
        ("RECORD_UPDATED", opportunity),
        ("STAGE_ADVANCED", opportunity),
    ]
    assert events[1]["after"]["crossed"]["created"] is False
    assert len(await flow.opportunities()) == 1


async def test_a_link_that_cannot_be_made_changes_nothing(flow: Flow) -> None:
    _, instance = await flow.lead("60000.00")
    other_lead, other = await flow.lead("70000.00")
    taken = (await flow.advance(other))["instance"]["records"][1]["record"]["id"]
    state = await flow.ask(STATE)

    wrong_entity = await flow.advance(instance, link=other_lead)
    assert wrong_entity["__typename"] == "InvalidValue", wrong_entity
    assert wrong_entity["field"] == "linkRecordId"
    on_another = await flow.advance(instance, link=taken)
    assert on_another == {
        "__typename": "InvalidTransition",
        "code": "ALREADY_RUNNING",
        "message": f"record {taken} is on another instance of lead-to-opportunity already",
    }
    missing = await flow.advance(instance, link=str(2**31 - 1))
    assert missing == {"__typename": "NotFound", "kind": "Record"}
    hostile = await flow.advance(instance, link="1; DROP TABLE record")
    assert hostile == {"__typename": "NotFound", "kind": "Record"}
    assert await flow.ask(STATE) == state

    # Where the move crosses into no new record, a record to link is refused too.
    await flow.step(other, "customer_need", "Faster sums")
    await flow.step(other, "estimated_close_date", "2026-09-30")
    state = await flow.ask(STATE)
    no_crossing = await flow.advance(other, link=taken)
    assert no_crossing["__typename"] == "InvalidTransition", no_crossing
    assert no_crossing["code"] == "NO_CROSSING"
    assert await flow.ask(STATE) == state


async def test_finish_abandon_and_reactivate_act_on_the_whole_instance(flow: Flow) -> None:
    _, instance = await flow.lead("20000.00", source="Referral")
    crossed = await flow.advance(instance)
    opportunity = crossed["instance"]["records"][1]["record"]["id"]
    steps = {
        "customer_need": "Faster sums",
        "estimated_close_date": "2026-09-30",
        "develop_proposal": True,
        "present_proposal": True,
    }
    for field, value in steps.items():
        await flow.step(instance, field, value)
        if field in ("estimated_close_date", "present_proposal"):
            assert (await flow.advance(instance))["__typename"] == "StageAdvanced"
    blocked = await flow.ask(FINISH, input={"instanceId": instance, "outcome": "won"})
    assert blocked["finishInstance"]["__typename"] == "StageGateBlocked"
    await flow.step(instance, "present_final_proposal", True)
    done = await flow.ask(FINISH, input={"instanceId": instance, "outcome": "won"})
    assert done["finishInstance"]["__typename"] == "InstanceFinished", done
    assert done["finishInstance"]["event"]["toStage"] == "close"
    for record in (await flow.ask(INSTANCE, id=instance))["instance"]["records"]:
        shown = (await flow.ask(RECORD, id=record["record"]["id"]))["record"]
        assert shown["activeInstance"]["status"] == "FINISHED"
    back = await flow.ask(REACTIVATE, input={"instanceId": instance})
    assert back["reactivateInstance"]["instance"]["activeStage"]["key"] == "close"
    shown = (await flow.ask(RECORD, id=opportunity))["record"]
    assert shown["activeInstance"]["status"] == "ACTIVE"


async def test_who_may_run_the_process_sees_its_records_and_no_one_else(flow: Flow) -> None:
    _, flow.gql.tokens["seller"] = await make_user("seller", BaseRole.USER, frozenset({"sales"}))
    _, flow.gql.tokens["clerk"] = await make_user("clerk", BaseRole.USER)
    await accounts.set_process_roles(
        flow.gql.app.state.runtime, process_id=int(flow.process), roles=["sales"], by="demo"
    )
    lead, instance = await flow.lead("60000.00", user="seller")
    crossed = await flow.advance(instance, user="seller")
    assert crossed["__typename"] == "StageAdvanced", crossed
    opportunity = crossed["instance"]["records"][1]["record"]["id"]

    for record in (lead, opportunity):
        seen = await flow.gql.post(RECORD, {"id": record}, user="seller")
        assert seen.json()["data"]["record"]["id"] == record
        hidden = await flow.gql.post(RECORD, {"id": record}, user="clerk")
        assert hidden.json()["data"] == {"record": None}, hidden.json()
    listed = await flow.ask(STATE, user="clerk")
    ids = {e["node"]["id"] for e in listed["records"]["edges"]}
    assert lead not in ids and opportunity not in ids
    listed = await flow.ask(STATE, user="seller")
    ids = {e["node"]["id"] for e in listed["records"]["edges"]}
    assert {lead, opportunity} <= ids
    # Nor may the clerk change the opportunity.
    pointed = await flow.ask(
        UPDATE_RECORD,
        user="clerk",
        input={"recordId": opportunity, "values": {"customer_need": "mine"}},
    )
    assert pointed["updateRecord"]["__typename"] == "NotFound"


async def test_concurrent_advances_across_the_crossing_create_one_opportunity(
    flow: Flow,
) -> None:
    _, instance = await flow.lead("60000.00")
    version = (await flow.ask(INSTANCE, id=instance))["instance"]["version"]

    answers = await asyncio.gather(
        *(flow.advance(instance, expectedVersion=version) for _ in range(10))
    )

    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["StageAdvanced"] + ["VersionConflict"] * 9, kinds
    assert len(await flow.opportunities()) == 1


async def test_concurrent_advances_without_a_version_cross_once(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")

    answers = await asyncio.gather(*(flow.advance(instance) for _ in range(10)))

    kinds = sorted(a["__typename"] for a in answers)
    # One crosses; the others then stand at Develop, whose gate holds them.
    assert kinds == ["StageAdvanced"] + ["StageGateBlocked"] * 9, kinds
    opportunities = await flow.opportunities()
    assert [o["values"]["originating_lead"] for o in opportunities] == [int(lead)]


LANE = """query($process: ID!, $stage: String!, $entity: String) {
  records(processId: $process, stage: $stage, entity: $entity, status: ACTIVE, first: 10) {
    totalCount edges { node { id } } } }"""


async def test_the_board_shows_one_card_per_instance(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")
    crossed = await flow.advance(instance)
    opportunity = crossed["instance"]["records"][1]["record"]["id"]
    definition = (await flow.ask(INSTANCE, id=instance))["instance"]["stages"]
    cards = []
    for stage in (s["stage"] for s in definition):
        lane = await flow.ask(
            LANE, process=flow.process, stage=stage["key"], entity=stage["entity"]
        )
        cards += [(stage["key"], e["node"]["id"]) for e in lane["records"]["edges"]]
    assert cards == [("develop", opportunity)]
    # Both records show the instance: the lane's entity is what keeps the card single.
    both = await flow.ask(LANE, process=flow.process, stage="develop", entity=None)
    assert {e["node"]["id"] for e in both["records"]["edges"]} == {lead, opportunity}


DESIGN = "query($id: ID!) { design(processId: $id) { definition } }"
UPDATE = """mutation($input: UpdateProcessInput!) { updateProcess(input: $input) { __typename
  ... on InvalidDefinition { problems { path message } } } }"""
PUBLISH = """mutation($input: DraftInput!) { publishProcess(input: $input) { __typename
  ... on InvalidDefinition { problems { path message } } } }"""
MIGRATE = """mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) {
  __typename
  ... on InstancesMigrated { instances { fromStage toStage missingSteps { field { key } }
    instance { id activeStage { key entity } records { entity record { id } } } } }
  ... on InvalidMigration { problems { path message } } } }"""


async def test_a_process_across_entities_migrates_to_its_next_version(flow: Flow) -> None:
    _, waiting = await flow.lead("20000.00", source="Referral")  # at the qualification call
    _, instance = await flow.lead("60000.00")
    crossed = await flow.advance(instance)
    records = [r["record"]["id"] for r in crossed["instance"]["records"]]
    await flow.step(instance, "customer_need", "Faster sums")
    # Version 2: Develop requires who the stakeholders are.
    definition = (await flow.ask(DESIGN, id=flow.process))["design"]["definition"]
    develop = next(s for s in definition["stages"] if s["key"] == "develop")
    for step in develop["steps"]:
        step["required"] = step["required"] or step["field"] == "identify_stakeholders"
    saved = await flow.ask(UPDATE, input={"processId": flow.process, "definition": definition})
    assert saved["updateProcess"]["__typename"] == "ProcessDraftSaved", saved
    published = await flow.ask(PUBLISH, input={"processId": flow.process})
    assert published["publishProcess"]["__typename"] == "ProcessPublished", published

    # The lead still at its call cannot land on a stage of the opportunity it has not.
    stranded = await flow.ask(
        MIGRATE,
        input={
            "processId": flow.process,
            "fromVersion": 1,
            "toVersion": 2,
            "stageMapping": [{"from": "fast_track", "to": "develop"}],
            "dryRun": False,
        },
    )
    assert stranded["migrateInstances"]["problems"] == [
        {
            "path": "stageMapping.develop",
            "message": f"stage 'develop' works on opportunity, which 1 instance(s) have not "
            f"crossed into ({waiting}); map them to a stage of an entity they are on",
        }
    ]
    done = await flow.ask(
        MIGRATE,
        input={"processId": flow.process, "fromVersion": 1, "toVersion": 2, "dryRun": False},
    )
    moved = {m["instance"]["id"]: m for m in done["migrateInstances"]["instances"]}
    assert moved[instance]["instance"]["activeStage"] == {"key": "develop", "entity": "opportunity"}
    assert [r["record"]["id"] for r in moved[instance]["instance"]["records"]] == records
    # What the new version lacks is read on the opportunity: its need is there, not the rest.
    assert {s["field"]["key"] for s in moved[instance]["missingSteps"]} == {
        "identify_stakeholders",
        "estimated_close_date",
    }
    assert moved[waiting]["toStage"] == "fast_track"
    again = await flow.advance(instance)
    assert again["__typename"] == "StageGateBlocked", again


SUBSCRIBED = """subscription($id: ID!) { instanceEvents(instanceId: $id) {
  seq kind recordId } }"""
MOVES = """subscription($id: ID!) { stageChanged(instanceId: $id) { seq kind recordId } }"""


async def _next(socket: Socket) -> tuple[str, str | None]:
    message = await socket.receive()
    assert message["type"] == "next", message
    data = next(iter(message["payload"]["data"].values()))
    return data["kind"], data["recordId"]


async def test_subscribers_hear_every_record_of_the_instance(flow: Flow) -> None:
    lead, instance = await flow.lead("60000.00")
    token = await flow.gql.token("demo")
    async with Socket(flow.gql.app, token) as events, Socket(flow.gql.app, token) as moves:
        await events.subscribe("1", SUBSCRIBED, id=instance)
        await moves.subscribe("1", MOVES, id=instance)
        crossed = await flow.advance(instance)
        opportunity = crossed["instance"]["records"][1]["record"]["id"]
        await flow.step(instance, "customer_need", "Faster sums")
        # A change of the opportunity outside the run, and of the lead: both are the run's.
        for record in (opportunity, lead):
            updated = await flow.ask(
                UPDATE_RECORD, input={"recordId": record, "values": {"company_name": "Engines"}}
            )
            assert updated["updateRecord"]["__typename"] == "RecordUpdated", updated
        await flow.ask(MOVE_TO, input={"instanceId": instance, "stage": "fast_track"})
        assert [await _next(events) for _ in range(6)] == [
            ("RECORD_CREATED", opportunity),
            ("STAGE_ADVANCED", opportunity),
            ("STEP_COMPLETED", opportunity),
            ("RECORD_UPDATED", opportunity),
            ("RECORD_UPDATED", lead),
            ("STAGE_MOVED_BACK", lead),
        ]
        assert [await _next(moves) for _ in range(2)] == [
            ("STAGE_ADVANCED", opportunity),
            ("STAGE_MOVED_BACK", lead),
        ]


async def test_a_hostile_entity_for_a_step_is_refused_and_changes_nothing(flow: Flow) -> None:
    _, instance = await flow.lead("60000.00")
    await flow.advance(instance)
    state = await flow.ask(STATE)
    for entity in ("Lead", "lead\x00", "opportunity; DROP TABLE record", "é", "-"):
        answer = await flow.step(instance, "customer_need", "x", entity=entity)
        assert answer == {
            "__typename": "InvalidValue",
            "field": "entity",
            "reason": "is not an entity key",
        }, (entity, answer)
    assert await flow.ask(STATE) == state


async def test_leads_racing_to_link_one_opportunity_link_it_once(flow: Flow) -> None:
    runs = [await flow.lead(f"{60000 + n}.00") for n in range(20)]
    made = await flow.ask(
        CREATE_RECORD, input={"entity": "opportunity", "name": "Contested", "values": {}}
    )
    contested = made["createRecord"]["record"]["id"]

    answers = await asyncio.gather(*(flow.advance(i, link=contested) for _, i in runs))

    linked = [a for a in answers if a["__typename"] == "StageAdvanced"]
    refused = [a for a in answers if a["__typename"] == "InvalidTransition"]
    assert (len(linked), len(refused)) == (1, 19), answers
    assert {a["code"] for a in refused} == {"ALREADY_RUNNING"}
    (winner,) = linked
    lead = winner["instance"]["records"][0]["record"]["id"]
    shown = (await flow.ask(RECORD, id=contested))["record"]
    assert shown["values"]["originating_lead"] == int(lead)
    assert shown["activeInstance"]["id"] == winner["instance"]["id"]
    assert len(await flow.opportunities()) == 1


UNAVAILABLE = {"DATABASE_UNAVAILABLE", "OUTCOME_UNKNOWN"}
CROSSED = """SELECT
  (SELECT count(*) FROM record WHERE entity_id = 'opportunity') AS opportunities,
  (SELECT count(*) FROM instance_link) AS links,
  (SELECT count(*) FROM record r JOIN instance_link k ON k.record_id = r.id
     JOIN instance i ON i.id = k.instance_id
     WHERE r.active_instance_id = i.id
       AND (r."values"->>'originating_lead')::int = i.record_id) AS whole,
  (SELECT count(*) FROM event WHERE kind = 'RECORD_CREATED'
     AND record_id IN (SELECT record_id FROM instance_link)) AS told"""


@pytest.mark.postgres
async def test_crossings_cut_off_by_lost_backends_are_whole_or_not_at_all(
    flow: Flow, database_url: str
) -> None:
    """Backends terminated again and again while 30 leads cross, each sent again with its
    key until answered: every crossing is whole (record, link, lookup, shown instance and
    event, all or none), made once, and each lead ends on its opportunity."""
    runs = [await flow.lead(f"{60000 + n}.00") for n in range(30)]
    cuts = []

    async def cut() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            for _ in range(12):
                cuts.append(
                    await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                await asyncio.sleep(0.15)
        finally:
            await conn.close()

    async def cross(instance: str) -> dict[str, Any]:
        while True:
            response = await flow.gql.post(
                ADVANCE, {"input": {"instanceId": instance, "idempotencyKey": f"x-{instance}"}}
            )
            body = response.json()
            if response.status_code == 200 and body.get("data"):
                return body["data"]["advanceStage"]  # type: ignore[no-any-return]
            # The database was away for every try: the same key again.
            assert body["errors"][0]["extensions"]["code"] in UNAVAILABLE, body
            await asyncio.sleep(0.05)

    cutter = asyncio.create_task(cut())
    answers = await asyncio.gather(*(cross(i) for _, i in runs))
    await cutter
    assert sum(cuts) > 0
    assert {a["__typename"] for a in answers} == {"StageAdvanced"}, answers
    counts = (await get_connection("default").execute_query_dict(CROSSED))[0]
    assert counts == {"opportunities": 30, "links": 30, "whole": 30, "told": 30}
    for (_, instance), answer in zip(runs, answers, strict=True):
        bar = (await flow.ask(INSTANCE, id=instance))["instance"]
        assert bar["activeStage"]["key"] == "develop"
        assert bar["records"] == answer["instance"]["records"]


async def test_the_opportunity_switches_to_its_own_process_and_back(flow: Flow) -> None:
    _, instance = await flow.lead("60000.00")
    crossed = await flow.advance(instance)
    opportunity = crossed["instance"]["records"][1]["record"]["id"]
    found = await flow.ask("{ processes { id key } }")
    sales = next(p["id"] for p in found["processes"] if p["key"] == "opportunity-sales")

    away = await flow.ask(SWITCH, input={"recordId": opportunity, "processId": sales})
    assert away["switchProcess"]["__typename"] == "ProcessSwitched", away
    assert away["switchProcess"]["instance"]["process"]["key"] == "opportunity-sales"
    back = await flow.ask(SWITCH, input={"recordId": opportunity, "processId": flow.process})
    assert back["switchProcess"]["__typename"] == "ProcessSwitched", back
    # The run it was crossed into, resumed where it stands; not a new one.
    assert back["switchProcess"]["instance"]["id"] == instance
    shown = (await flow.ask(RECORD, id=opportunity))["record"]
    assert shown["activeInstance"]["id"] == instance
    assert shown["activeInstance"]["activeStage"] == {"key": "develop"}
    assert sorted(i["process"]["key"] for i in shown["instances"]) == [
        "lead-to-opportunity",
        "opportunity-sales",
    ]


async def test_a_stay_past_its_due_is_told_on_the_record_its_stage_works_on(
    flow: Flow,
) -> None:
    lead, waiting = await flow.lead("20000.00", source="Referral")
    _, instance = await flow.lead("60000.00")
    crossed = await flow.advance(instance)
    opportunity = crossed["instance"]["records"][1]["record"]["id"]
    before = await flow.ask("{ lastEventSeq }")

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    assert await overdue.mark_overdue(flow.gql.app.state.runtime, now=later) >= 2

    events = (await flow.ask(EVENTS, after=before["lastEventSeq"]))["events"]
    told = {e["instanceId"]: e["recordId"] for e in events if e["kind"] == "STAGE_OVERDUE"}
    assert told[instance] == opportunity
    assert told[waiting] == lead
