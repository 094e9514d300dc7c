"""What a user may not see stays unseen through the side doors: list filters, replayed
idempotency keys, a designer's migration, roles changed by a designer, ids inside events.

Opportunity Sales is restricted to the `sales` team; Enterprise Deal, on the same entity,
is open to everyone. `member` is in `sales`, `outsider` is not, `designer` designs without
being in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from users import make_user

from server.domain.access import BaseRole
from server.services import accounts

SWITCH = """mutation($input: SwitchProcessInput!) { switchProcess(input: $input) { __typename
  ... on ProcessSwitched { instance { id } event { seq before after } }
  ... on NotFound { kind id } } }"""
START = """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
  ... on InstanceStarted { instance { id } } } }"""
CREATE = """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
  ... on RecordCreated { record { id } } } }"""
STEP = """mutation($input: CompleteStepInput!) { completeStep(input: $input) { __typename
  ... on StepCompleted { event { seq } } ... on NotFound { kind } } }"""
COUNT = """query($p: ID, $stage: String, $status: InstanceStatus) {
  records(processId: $p, stage: $stage, status: $status) { totalCount } }"""
EVENTS = "query($r: ID) { events(recordId: $r) { kind before after } }"
UPDATE_USER = """mutation($input: UpdateUserInput!) { updateUser(input: $input) { __typename } }"""
DESIGN = "query($id: ID!) { design(processId: $id) { version definition } }"
UPDATE = """mutation($input: UpdateProcessInput!) { updateProcess(input: $input) { __typename
  ... on ProcessDraftSaved { draft { version } } } }"""
PUBLISH = """mutation($input: DraftInput!) { publishProcess(input: $input) { __typename } }"""
MIGRATE = """mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) {
  __typename ... on InstancesMigrated { dryRun hiddenCount instances { instance { id } } } } }"""
ROLES = """mutation($id: ID!, $roles: [String!]!) { setProcessRoles(processId: $id, roles: $roles) {
  __typename } }"""
PROCESS_ROLES = "query($id: ID!) { process(id: $id) { roles } }"


@dataclass
class Place:
    gql: Any
    sales: str
    enterprise: str
    member_id: str

    async def as_(self, user: str, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.gql.post(query, variables, user=user)
        return response.json()  # type: ignore[no-any-return]

    async def data(self, user: str, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.as_(user, query, **variables)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    async def record(self) -> str:
        created = await self.data("root", CREATE, input={"entity": "opportunity", "name": "Deal"})
        return created["createRecord"]["record"]["id"]  # type: ignore[no-any-return]

    async def start(self, record: str, process: str) -> str:
        started = await self.data("root", START, input={"recordId": record, "processId": process})
        return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def place(gql: Any) -> Place:
    member, gql.tokens["member"] = await make_user("member", BaseRole.USER, frozenset({"sales"}))
    _, gql.tokens["outsider"] = await make_user("outsider", BaseRole.USER)
    _, gql.tokens["designer"] = await make_user("designer", BaseRole.DESIGNER)
    gql.tokens["root"] = (await make_user("root"))[1]
    found = await gql.execute("{ processes { id key } }", user="root")
    ids = {p["key"]: p["id"] for p in found["processes"]}
    await accounts.set_process_roles(
        gql.app.state.runtime,
        process_id=int(ids["opportunity-sales"]),
        roles=["sales"],
        by="root",
    )
    return Place(gql, ids["opportunity-sales"], ids["enterprise-deal"], str(member.id))


async def test_filters_do_not_confirm_a_hidden_process_stage_or_status(place: Place) -> None:
    record = await place.record()
    await place.start(record, place.enterprise)  # the outsider may see the record
    await place.start(record, place.sales)
    await place.data("root", SWITCH, input={"recordId": record, "processId": place.sales})
    for variables in (
        {"p": place.sales},
        {"stage": "qualify"},
        {"status": "ACTIVE"},
        {"p": place.sales, "stage": "qualify", "status": "ACTIVE"},
    ):
        seen = await place.data("member", COUNT, **variables)
        hidden = await place.data("outsider", COUNT, **variables)
        assert seen["records"]["totalCount"] == 1, variables
        assert hidden["records"]["totalCount"] == 0, variables
    missing = await place.data("outsider", COUNT, p="999999")
    assert missing["records"]["totalCount"] == 0


async def test_a_replay_after_losing_access_is_answered_as_missing(place: Place) -> None:
    record = await place.record()
    await place.start(record, place.enterprise)
    switch = {"recordId": record, "processId": place.sales, "idempotencyKey": "switch-1"}
    first = await place.data("member", SWITCH, input=switch)
    assert first["switchProcess"]["__typename"] == "ProcessSwitched"
    sales_instance = first["switchProcess"]["instance"]["id"]
    step = {
        "instanceId": sales_instance,
        "field": "estimated_budget",
        "value": 100,
        "idempotencyKey": "step-1",
    }
    assert (await place.data("member", STEP, input=step))["completeStep"]["__typename"] == (
        "StepCompleted"
    )

    changed = await place.data("root", UPDATE_USER, input={"userId": place.member_id, "roles": []})
    assert changed["updateUser"]["__typename"] == "UserSaved"
    replayed = await place.data("member", SWITCH, input=switch)
    assert replayed["switchProcess"]["__typename"] == "NotFound"
    assert (await place.data("member", STEP, input=step))["completeStep"] == {
        "__typename": "NotFound",
        "kind": "Instance",
    }


async def test_a_designer_without_the_role_migrates_without_reading_records(
    place: Place,
) -> None:
    for _ in range(3):
        await place.start(await place.record(), place.sales)
    design = (await place.data("root", DESIGN, id=place.sales))["design"]
    definition = design["definition"]
    definition["stages"][0]["name"] = "Qualify (v2)"
    saved = await place.data(
        "root",
        UPDATE,
        input={
            "processId": place.sales,
            "definition": definition,
            "expectedVersion": design["version"],
        },
    )
    version = saved["updateProcess"]["draft"]["version"]
    published = await place.data(
        "root", PUBLISH, input={"processId": place.sales, "expectedVersion": version}
    )
    assert published["publishProcess"]["__typename"] == "ProcessPublished"

    dry = {"processId": place.sales, "fromVersion": 1, "toVersion": 2, "dryRun": True}
    by_designer = (await place.data("designer", MIGRATE, input=dry))["migrateInstances"]
    by_admin = (await place.data("root", MIGRATE, input=dry))["migrateInstances"]
    assert (by_designer["instances"], by_designer["hiddenCount"]) == ([], 3)
    assert (len(by_admin["instances"]), by_admin["hiddenCount"]) == (3, 0)


async def test_only_those_who_may_run_a_process_change_its_roles(place: Place) -> None:
    refused = await place.as_("designer", ROLES, id=place.sales, roles=[])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await place.data("root", PROCESS_ROLES, id=place.sales))["process"]["roles"] == [
        "sales"
    ]
    opened = await place.data("designer", ROLES, id=place.enterprise, roles=["sales"])
    assert opened["setProcessRoles"]["__typename"] == "ProcessRolesSet"
    plain = await place.as_("member", ROLES, id=place.enterprise, roles=[])
    assert plain["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # not a designer at all
    assert (await place.data("root", PROCESS_ROLES, id=place.enterprise))["process"]["roles"] == [
        "sales"
    ]


async def test_an_event_does_not_name_an_instance_the_user_may_not_see(place: Place) -> None:
    record = await place.record()
    hidden = await place.start(record, place.sales)
    await place.start(record, place.enterprise)  # the record shows its Sales run
    await place.data(
        "root", SWITCH, input={"recordId": record, "processId": place.sales}
    )  # the bar shows the hidden run again
    switched = (
        await place.data(
            "outsider", SWITCH, input={"recordId": record, "processId": place.enterprise}
        )
    )["switchProcess"]
    assert switched["__typename"] == "ProcessSwitched"
    assert switched["event"]["before"] == {"instanceId": None}
    assert switched["event"]["after"]["instanceId"] == int(switched["instance"]["id"])

    def befores(events: list[dict[str, Any]]) -> list[Any]:
        return [e["before"] for e in events if e["kind"] == "PROCESS_SWITCHED"]

    seen = (await place.data("member", EVENTS, r=record))["events"]
    unseen = (await place.data("outsider", EVENTS, r=record))["events"]
    assert {"instanceId": int(hidden)} in befores(seen)
    assert {"instanceId": int(hidden)} not in befores(unseen)
    assert {"instanceId": None} in befores(unseen)
