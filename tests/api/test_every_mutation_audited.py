"""Every mutation of the schema, each made to succeed and to be refused.

A success writes one event per change it makes, in the change's own transaction: with
the event row made impossible to write, nothing of the change is left. A refusal, and a
call that changes nothing, write no event and leave every table as it was. The list of
mutations comes from the schema: a new mutation without a case here fails the test.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from deliveries import make_delivery
from starlette.applications import Starlette

from server.api.schema import schema
from server.app import create_app
from server.db import store
from server.db.models import (
    CounterRow,
    CredentialRow,
    EntityRow,
    EventRow,
    InstanceRow,
    ProcessRow,
    ProcessVersionRow,
    RecordRow,
    UserRow,
    VisitRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from server.services import accounts
from server.services.seed import seed
from server.settings import Settings

PASSWORD = "a-long-password-1"
READY = {"estimated_budget": 100, "decision_maker_identified": True}
TINY = {
    "key": "tiny",
    "name": "Tiny",
    "entity": "opportunity",
    "stages": [
        {"key": "only", "name": "Only", "category": "CLOSE", "steps": []},
    ],
}
counter = itertools.count(1)

# Every table a change may touch. Failed sign-ins are counted in their own table even
# when refused (that is how guessing is slowed down): it is left out.
TABLES = (
    CounterRow,
    CredentialRow,
    EntityRow,
    EventRow,
    InstanceRow,
    ProcessRow,
    ProcessVersionRow,
    RecordRow,
    UserRow,
    VisitRow,
    WebhookDeliveryRow,
    WebhookRow,
)


async def _snapshot() -> dict[str, list[dict[str, Any]]]:
    tables = {}
    for model in TABLES:
        rows = await model.all().values()
        tables[model._meta.db_table] = sorted(rows, key=repr)
    return tables


def _input(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename }} }}"


def _id_only(name: str) -> str:
    return f"mutation($id: ID!) {{ {name}(processId: $id) {{ __typename }} }}"


Setup = Callable[["World"], Awaitable[dict[str, Any]]]


@dataclass
class Try:
    """One call: what it is set up with, and its answer (a union member, or an error code)."""

    setup: Setup
    answer: str
    kinds: list[str] = field(default_factory=list)  # the events a success writes, in order
    user: str | None = "demo"
    headers: Callable[[World, dict[str, Any]], dict[str, str]] | None = None


@dataclass
class Case:
    document: str
    changes: list[Try]  # each writes its `kinds`
    refusals: list[Try]
    unchanged: list[Try] = field(default_factory=list)  # succeed, but there is nothing to do


@dataclass
class World:
    gql: Any
    sales: str
    tiny: str
    facts: dict[str, Any] = field(default_factory=dict)

    async def run(self, document: str, **variables: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.gql.execute(document, variables)
        return data

    async def record(self, **values: Any) -> str:
        done = await self.run(
            """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
                 ... on RecordCreated { record { id } } } }""",
            input={"entity": "opportunity", "name": f"Deal {next(counter)}", "values": values},
        )
        return str(done["createRecord"]["record"]["id"])

    async def instance(self, process: str | None = None, **values: Any) -> str:
        record_id = await self.record(**values)
        done = await self.run(
            """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
                 ... on InstanceStarted { instance { id } } } }""",
            input={"recordId": record_id, "processId": process or self.sales},
        )
        return str(done["startInstance"]["instance"]["id"])

    async def move(self, name: str, instance_id: str, **extra: Any) -> None:
        input_type = {
            "moveToStage": "MoveToStageInput",
            "finishInstance": "FinishInstanceInput",
        }.get(name, "InstanceInput")
        done = await self.run(_input(name, input_type), input={"instanceId": instance_id, **extra})
        assert "__typename" in done[name]

    async def draft(self) -> str:
        done = await self.run(
            """mutation($input: CreateProcessInput!) { createProcess(input: $input) {
                 ... on ProcessDraftSaved { draft { processId } } } }""",
            input={"template": "phone-to-case", "key": f"case-{next(counter)}"},
        )
        return str(done["createProcess"]["draft"]["processId"])

    async def published(self) -> str:
        process_id = await self.draft()
        done = await self.run(
            _input("publishProcess", "DraftInput"), input={"processId": process_id}
        )
        assert done["publishProcess"]["__typename"] == "ProcessPublished"
        return process_id

    async def definition(self, process_id: str) -> dict[str, Any]:
        found = await self.run(
            "query($id: ID!) { design(processId: $id) { definition } }", id=process_id
        )
        return dict(found["design"]["definition"])

    async def edited(self, process_id: str) -> dict[str, Any]:
        """A draft opened on the process (a new name)."""
        definition = {**await self.definition(process_id), "name": f"Edited {next(counter)}"}
        done = await self.run(
            _input("updateProcess", "UpdateProcessInput"),
            input={"processId": process_id, "definition": definition},
        )
        assert done["updateProcess"]["__typename"] == "ProcessDraftSaved"
        return definition

    async def user(self) -> dict[str, Any]:
        runtime = self.gql.app.state.runtime
        made = await accounts.create_user(
            runtime, name=f"user{next(counter)}", password=PASSWORD, by="demo"
        )
        return {"id": str(made.id), "name": made.name}

    async def token(self) -> str:
        done = await self.run('mutation { createApiToken(label: "t") { token { id } } }')
        return str(done["createApiToken"]["token"]["id"])

    async def session(self) -> dict[str, Any]:
        """A signed-in session: its cookie in the client, its CSRF token returned."""
        user = await self.user()
        response = await self.gql.post(
            _SIGN_IN, {"input": {"name": user["name"], "password": PASSWORD}}, user=None
        )
        signed = response.json()["data"]["signIn"]
        assert signed["__typename"] == "SignedIn"
        return {"csrf": signed["user"]["csrfToken"]}


_SIGN_IN = """mutation($input: SignInInput!) { signIn(input: $input) { __typename
  ... on SignedIn { user { csrfToken } } } }"""


def fixed(**variables: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        return variables

    return setup


def step(instance: Callable[[World], Awaitable[str]], **input: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        return {"input": {"instanceId": await instance(world), **input}}

    return setup


async def _fresh(world: World) -> str:
    return await world.instance()


async def _ready(world: World) -> str:
    return await world.instance(**READY)


async def _advanced(world: World) -> str:
    instance_id = await world.instance(**READY)
    await world.move("advanceStage", instance_id)
    return instance_id


async def _abandoned(world: World) -> str:
    instance_id = await world.instance()
    await world.move("abandonInstance", instance_id)
    return instance_id


async def _tiny(world: World) -> str:
    return await world.instance(world.tiny)


async def _finished(world: World) -> str:
    instance_id = await world.instance(world.tiny)
    await world.move("finishInstance", instance_id)
    return instance_id


async def _new_key(world: World) -> dict[str, Any]:
    return {"input": {"template": "phone-to-case", "key": f"new-{next(counter)}"}}


async def _update_draft(world: World) -> dict[str, Any]:
    process_id = await world.draft()
    definition = {**await world.definition(process_id), "name": "Renamed"}
    return {"input": {"processId": process_id, "definition": definition}}


async def _update_conflict(world: World) -> dict[str, Any]:
    variables = await _update_draft(world)
    return {"input": {**variables["input"], "expectedVersion": 99}}


async def _broken_update(world: World) -> dict[str, Any]:
    process_id = await world.published()
    definition = await world.definition(process_id)
    return {"input": {"processId": process_id, "definition": {**definition, "entity": "lead"}}}


async def _edited(world: World) -> dict[str, Any]:
    process_id = await world.published()
    await world.edited(process_id)
    return {"input": {"processId": process_id}}


async def _draft_input(world: World) -> dict[str, Any]:
    return {"input": {"processId": await world.draft()}}


async def _published_input(world: World) -> dict[str, Any]:
    return {"input": {"processId": await world.published()}}


async def _broken_draft(world: World) -> dict[str, Any]:
    process_id = await world.draft()
    definition = await world.definition(process_id)
    definition["stages"][0]["next"] = "nowhere"
    await world.run(
        _input("updateProcess", "UpdateProcessInput"),
        input={"processId": process_id, "definition": definition},
    )
    return {"input": {"processId": process_id}}


async def _published_id(world: World) -> dict[str, Any]:
    return {"id": await world.published()}


async def _deactivated_id(world: World) -> dict[str, Any]:
    process_id = await world.published()
    await world.run(_id_only("deactivateProcess"), id=process_id)
    return {"id": process_id}


async def _case_ids(world: World) -> list[str]:
    found = await world.run('{ processes(entity: "case") { id } }')
    return [p["id"] for p in found["processes"]]


async def _reversed(world: World) -> dict[str, Any]:
    return {"entity": "case", "ids": list(reversed(await _case_ids(world)))}


async def _same_order(world: World) -> dict[str, Any]:
    return {"entity": "case", "ids": await _case_ids(world)}


async def _one_missing(world: World) -> dict[str, Any]:
    return {"entity": "case", "ids": (await _case_ids(world))[1:]}


async def _two_versions(world: World) -> str:
    """A process with three instances on version 1, and a version 2."""
    process_id = await world.published()
    world.facts["runs"] = []
    for _ in range(3):
        done = await world.run(
            """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
                 ... on RecordCreated { record { id } } } }""",
            input={"entity": "case", "name": f"Case {next(counter)}"},
        )
        record_id = done["createRecord"]["record"]["id"]
        await world.run(
            _input("startInstance", "StartInstanceInput"),
            input={"recordId": record_id, "processId": process_id},
        )
    await world.edited(process_id)
    await world.run(_input("publishProcess", "DraftInput"), input={"processId": process_id})
    return process_id


def _migrate(dry_run: bool, **extra: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        process_id = await _two_versions(world)
        base = {"processId": process_id, "fromVersion": 1, "toVersion": 2, "dryRun": dry_run}
        return {"input": {**base, **extra}}

    return setup


def _import(publish: bool, **changes: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        found = await world.run("{ templates { key definition } }")
        template = next(t for t in found["templates"] if t["key"] == "phone-to-case")
        definition = {**template["definition"], "key": f"imported-{next(counter)}", **changes}
        return {"input": {"definition": definition, "publish": publish}}

    return setup


def _field(**extra: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        field = {"entity": "opportunity", "key": f"note_{next(counter)}", "label": "Note"}
        return {"input": {**field, "type": "TEXT", **extra}}

    return setup


async def _saved_field(world: World) -> dict[str, Any]:
    variables = await _field()(world)
    saved = await world.run(_input("saveField", "SaveFieldInput"), **variables)
    assert saved["saveField"]["__typename"] == "FieldSaved"
    return variables


async def _sign_in(world: World) -> dict[str, Any]:
    user = await world.user()
    return {"input": {"name": user["name"], "password": PASSWORD}}


async def _wrong_password(world: World) -> dict[str, Any]:
    user = await world.user()
    return {"input": {"name": user["name"], "password": "not-the-password"}}


async def _session(world: World) -> dict[str, Any]:
    world.facts["csrf"] = (await world.session())["csrf"]
    return {}


def _with_csrf(world: World, variables: dict[str, Any]) -> dict[str, str]:
    return {"x-csrf-token": world.facts["csrf"]}


async def _token_id(world: World) -> dict[str, Any]:
    return {"id": await world.token()}


async def _revoked_token_id(world: World) -> dict[str, Any]:
    token_id = await world.token()
    await world.run("mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }", id=token_id)
    return {"id": token_id}


async def _new_user(world: World) -> dict[str, Any]:
    return {"input": {"name": f"new{next(counter)}", "password": PASSWORD}}


async def _update_user(world: World) -> dict[str, Any]:
    return {"input": {"userId": (await world.user())["id"], "roles": ["support"]}}


async def _demote_last_admin(world: World) -> dict[str, Any]:
    me = await world.run("{ me { id } }")
    return {"input": {"userId": me["me"]["id"], "role": "USER"}}


async def _unstarted(world: World) -> dict[str, Any]:
    return {"input": {"recordId": await world.record(), "processId": world.sales}}


async def _started_again(world: World) -> dict[str, Any]:
    instance_id = await world.instance()
    found = await world.run(
        "query($id: ID!) { instance(id: $id) { record { id } } }", id=instance_id
    )
    return {"input": {"recordId": found["instance"]["record"]["id"], "processId": world.sales}}


async def _enterprise(world: World) -> str:
    found = await world.run('{ processes(entity: "opportunity") { id key } }')
    return next(p["id"] for p in found["processes"] if p["key"] == "enterprise-deal")


async def _record_of(world: World, instance_id: str) -> str:
    found = await world.run(
        "query($id: ID!) { instance(id: $id) { record { id } } }", id=instance_id
    )
    return str(found["instance"]["record"]["id"])


async def _switch_new(world: World) -> dict[str, Any]:
    record_id = await _record_of(world, await world.instance())
    return {"input": {"recordId": record_id, "processId": await _enterprise(world)}}


async def _switch_back(world: World) -> dict[str, Any]:
    variables = await _switch_new(world)
    await world.run(_input("switchProcess", "SwitchProcessInput"), **variables)
    return {"input": {**variables["input"], "processId": world.sales}}


async def _switch_same(world: World) -> dict[str, Any]:
    record_id = await _record_of(world, await world.instance())
    return {"input": {"recordId": record_id, "processId": world.sales}}


async def _switch_wrong_entity(world: World) -> dict[str, Any]:
    record_id = await _record_of(world, await world.instance())
    cases = await _case_ids(world)
    return {"input": {"recordId": record_id, "processId": cases[0]}}


async def _update_record(world: World, **input: Any) -> dict[str, Any]:
    return {"input": {"recordId": await world.record(), **input}}


HOOK = {"url": "https://hooks.example.com/in", "topics": ["FINISHED"]}


async def _webhook(world: World, *, paused: bool = False) -> str:
    done = await world.run(
        """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
             ... on WebhookCreated { webhook { id } } } }""",
        input=HOOK,
    )
    webhook_id = str(done["createWebhook"]["webhook"]["id"])
    if paused:
        await world.run(_input("pauseWebhook", "WebhookInput"), input={"id": webhook_id})
    return webhook_id


def _hook(paused: bool = False, **input: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        return {"input": {"id": await _webhook(world, paused=paused), **input}}

    return setup


def _delivery(state: str) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        row = await make_delivery(await _webhook(world), seq=1, state=state, statuses=(500,))
        return {"input": {"id": row.uid}}

    return setup


MISSING_HOOK = fixed(input={"id": "999999"})

CASES: dict[str, Case] = {
    "createWebhook": Case(
        _input("createWebhook", "CreateWebhookInput"),
        [Try(fixed(input=HOOK), "WebhookCreated", ["WEBHOOK_CREATED"])],
        [
            Try(fixed(input={**HOOK, "url": "ftp://hooks.example.com"}), "InvalidValue"),
            Try(fixed(input={**HOOK, "topics": []}), "InvalidValue"),
            Try(fixed(input={**HOOK, "stages": ["nowhere"]}), "InvalidValue"),
        ],
    ),
    "updateWebhook": Case(
        _input("updateWebhook", "UpdateWebhookInput"),
        [Try(_hook(description="Renamed"), "WebhookSaved", ["WEBHOOK_UPDATED"])],
        [
            Try(_hook(description="Late", expectedVersion=99), "VersionConflict"),
            Try(_hook(url="https://"), "InvalidValue"),
            Try(fixed(input={"id": "999999", "description": "x"}), "NotFound"),
        ],
        [Try(_hook(topics=["FINISHED"]), "WebhookSaved")],
    ),
    "deleteWebhook": Case(
        _input("deleteWebhook", "WebhookInput"),
        [Try(_hook(), "WebhookDeleted", ["WEBHOOK_DELETED"])],
        [Try(MISSING_HOOK, "NotFound"), Try(_hook(expectedVersion=99), "VersionConflict")],
    ),
    "pauseWebhook": Case(
        _input("pauseWebhook", "WebhookInput"),
        [Try(_hook(), "WebhookSaved", ["WEBHOOK_PAUSED"])],
        [Try(MISSING_HOOK, "NotFound"), Try(_hook(expectedVersion=99), "VersionConflict")],
        [Try(_hook(paused=True), "WebhookSaved")],
    ),
    "resumeWebhook": Case(
        _input("resumeWebhook", "WebhookInput"),
        [Try(_hook(paused=True), "WebhookSaved", ["WEBHOOK_RESUMED"])],
        [Try(MISSING_HOOK, "NotFound")],
        [Try(_hook(), "WebhookSaved")],
    ),
    "renewWebhookSecret": Case(
        _input("renewWebhookSecret", "WebhookInput"),
        [Try(_hook(), "WebhookSecretRenewed", ["WEBHOOK_SECRET_RENEWED"])],
        [Try(MISSING_HOOK, "NotFound"), Try(_hook(expectedVersion=99), "VersionConflict")],
    ),
    "redeliverDelivery": Case(
        _input("redeliverDelivery", "RedeliverDeliveryInput"),
        [Try(_delivery("FAILED"), "DeliveryScheduled", ["WEBHOOK_REDELIVERED"])],
        [Try(_delivery("PENDING"), "InvalidTransition"), Try(MISSING_HOOK, "NotFound")],
    ),
    "createProcess": Case(
        _input("createProcess", "CreateProcessInput"),
        [Try(_new_key, "ProcessDraftSaved", ["PROCESS_DRAFT_SAVED"])],
        [
            Try(fixed(input={"template": "no-such"}), "NotFound"),
            Try(fixed(input={"template": "phone-to-case"}), "InvalidDefinition"),  # key taken
        ],
    ),
    "updateProcess": Case(
        _input("updateProcess", "UpdateProcessInput"),
        [Try(_update_draft, "ProcessDraftSaved", ["PROCESS_DRAFT_SAVED"])],
        [
            Try(_update_conflict, "VersionConflict"),
            Try(_broken_update, "InvalidDefinition"),  # a published process keeps its entity
            Try(
                fixed(input={"processId": "999999", "definition": {}}),
                "NotFound",
            ),
        ],
    ),
    "discardDraft": Case(
        _input("discardDraft", "DraftInput"),
        [Try(_edited, "ProcessDraftSaved", ["PROCESS_DRAFT_DISCARDED"])],
        [
            Try(_draft_input, "InvalidDefinition"),
            Try(fixed(input={"processId": "999999"}), "NotFound"),
        ],
    ),
    "publishProcess": Case(
        _input("publishProcess", "DraftInput"),
        [Try(_draft_input, "ProcessPublished", ["PROCESS_PUBLISHED"])],
        [Try(_published_input, "InvalidDefinition"), Try(_broken_draft, "InvalidDefinition")],
    ),
    "deactivateProcess": Case(
        _id_only("deactivateProcess"),
        [Try(_published_id, "ProcessStatusChanged", ["PROCESS_DEACTIVATED"])],
        [Try(fixed(id="999999"), "NotFound")],
        [Try(_deactivated_id, "ProcessStatusChanged")],
    ),
    "activateProcess": Case(
        _id_only("activateProcess"),
        [Try(_deactivated_id, "ProcessStatusChanged", ["PROCESS_ACTIVATED"])],
        [Try(fixed(id="999999"), "NotFound")],
        [Try(_published_id, "ProcessStatusChanged")],
    ),
    "reorderProcesses": Case(
        """mutation($entity: String!, $ids: [ID!]!) {
             reorderProcesses(entity: $entity, processIds: $ids) { __typename } }""",
        [Try(_reversed, "ProcessesReordered", ["PROCESSES_REORDERED"])],
        [Try(_one_missing, "InvalidValue")],
        [Try(_same_order, "ProcessesReordered")],
    ),
    "migrateInstances": Case(
        _input("migrateInstances", "MigrateInstancesInput"),
        # One change per instance moved: three instances, three events.
        [Try(_migrate(False), "InstancesMigrated", ["INSTANCE_MIGRATED"] * 3)],
        [
            Try(_migrate(False, toVersion=1), "InvalidMigration"),
            Try(
                _migrate(False, stageMapping=[{"from": "identify", "to": "x"}]), "InvalidMigration"
            ),
        ],
        [Try(_migrate(True), "InstancesMigrated")],
    ),
    "importProcess": Case(
        _input("importProcess", "ImportProcessInput"),
        [
            Try(_import(False), "ProcessImported", ["PROCESS_DRAFT_SAVED"]),
            # Two changes: the draft is saved, then published as version 1.
            Try(_import(True), "ProcessImported", ["PROCESS_DRAFT_SAVED", "PROCESS_PUBLISHED"]),
        ],
        [Try(_import(True, entity="nothing"), "InvalidDefinition")],
    ),
    "saveField": Case(
        _input("saveField", "SaveFieldInput"),
        [
            Try(_field(), "FieldSaved", ["FIELD_SAVED"]),
            Try(_field(type="CHOICE", choices=["a", "b"]), "FieldSaved", ["FIELD_SAVED"]),
        ],
        [
            Try(
                fixed(
                    input={
                        "entity": "opportunity",
                        "key": "estimated_budget",
                        "label": "Budget",
                        "type": "TEXT",
                    }
                ),
                "FieldInUse",
            ),
            Try(_field(entity="nothing"), "NotFound"),
            Try(_field(type="CHOICE"), "InvalidDefinition"),  # a choice field needs choices
        ],
        [Try(_saved_field, "FieldSaved")],
    ),
    "setProcessRoles": Case(
        """mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["support"]) {
             __typename } }""",
        [Try(_published_id, "ProcessRolesSet", ["PROCESS_ROLES_CHANGED"])],
        [Try(fixed(id="999999"), "NotFound")],
    ),
    "signIn": Case(
        _input("signIn", "SignInInput"),
        [Try(_sign_in, "SignedIn", ["CREDENTIAL_CREATED"], user=None)],
        [Try(_wrong_password, "Unauthenticated", user=None)],
    ),
    "signOut": Case(
        "mutation { signOut { __typename } }",
        [Try(_session, "SignedOut", ["CREDENTIAL_REVOKED"], user=None, headers=_with_csrf)],
        [Try(fixed(), "UNAUTHENTICATED", user=None)],
        # Signed in with an API token: there is no session to end.
        [Try(fixed(), "SignedOut")],
    ),
    "createApiToken": Case(
        'mutation { createApiToken(label: "cli") { __typename } }',
        [Try(fixed(), "ApiTokenCreated", ["CREDENTIAL_CREATED"])],
        [Try(fixed(), "UNAUTHENTICATED", user=None)],
    ),
    "revokeApiToken": Case(
        "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }",
        [Try(_token_id, "ApiTokenRevoked", ["CREDENTIAL_REVOKED"])],
        [Try(fixed(id="999999"), "NotFound")],
        [Try(_revoked_token_id, "ApiTokenRevoked")],
    ),
    "createUser": Case(
        _input("createUser", "CreateUserInput"),
        [Try(_new_user, "UserSaved", ["USER_CREATED"])],
        [
            Try(fixed(input={"name": "short-password", "password": "x"}), "InvalidValue"),
            Try(fixed(input={"name": " ", "password": PASSWORD}), "InvalidValue"),
        ],
    ),
    "updateUser": Case(
        _input("updateUser", "UpdateUserInput"),
        [Try(_update_user, "UserSaved", ["USER_UPDATED"])],
        [
            Try(fixed(input={"userId": "999999", "roles": []}), "NotFound"),
            Try(_demote_last_admin, "InvalidValue"),
        ],
    ),
    "startInstance": Case(
        _input("startInstance", "StartInstanceInput"),
        [Try(_unstarted, "InstanceStarted", ["INSTANCE_STARTED"])],
        [
            Try(_started_again, "InvalidTransition"),
            Try(fixed(input={"recordId": "999999"}), "NotFound"),
        ],
    ),
    "completeStep": Case(
        _input("completeStep", "CompleteStepInput"),
        [Try(step(_fresh, field="estimated_budget", value=5), "StepCompleted", ["STEP_COMPLETED"])],
        [
            Try(step(_fresh, field="estimated_budget", value="lots"), "InvalidValue"),
            Try(step(_fresh, field="nothing", value=1), "InvalidTransition"),
            Try(step(_fresh, field="customer_need", value="x"), "InvalidTransition"),
            Try(
                step(_fresh, field="estimated_budget", value=5, expectedVersion=99),
                "VersionConflict",
            ),
            Try(step(_abandoned, field="estimated_budget", value=5), "InvalidTransition"),
        ],
    ),
    "advanceStage": Case(
        _input("advanceStage", "InstanceInput"),
        [Try(step(_ready), "StageAdvanced", ["STAGE_ADVANCED"])],
        [
            Try(step(_fresh), "StageGateBlocked"),
            Try(step(_ready, expectedVersion=99), "VersionConflict"),
            Try(step(_tiny), "InvalidTransition"),  # a last stage: finish instead
            Try(fixed(input={"instanceId": "999999"}), "NotFound"),
        ],
    ),
    "moveToStage": Case(
        _input("moveToStage", "MoveToStageInput"),
        [Try(step(_advanced, stage="qualify"), "StageMoved", ["STAGE_MOVED_BACK"])],
        [
            Try(step(_advanced, stage="close"), "InvalidTransition"),
            Try(step(_advanced, stage="develop"), "InvalidTransition"),
        ],
    ),
    "finishInstance": Case(
        _input("finishInstance", "FinishInstanceInput"),
        [Try(step(_tiny), "InstanceFinished", ["INSTANCE_FINISHED"])],
        [
            Try(step(_fresh), "InvalidTransition"),
            Try(step(_finished), "InvalidTransition"),
            Try(step(_tiny, outcome="won"), "InvalidOutcome"),  # Tiny declares none
        ],
    ),
    "abandonInstance": Case(
        _input("abandonInstance", "InstanceInput"),
        [Try(step(_fresh), "InstanceAbandoned", ["INSTANCE_ABANDONED"])],
        [Try(step(_abandoned), "InvalidTransition")],
    ),
    "reactivateInstance": Case(
        _input("reactivateInstance", "InstanceInput"),
        [
            Try(step(_abandoned), "InstanceReactivated", ["INSTANCE_REACTIVATED"]),
            Try(step(_finished), "InstanceReactivated", ["INSTANCE_REACTIVATED"]),
        ],
        [Try(step(_fresh), "InvalidTransition")],
    ),
    "switchProcess": Case(
        _input("switchProcess", "SwitchProcessInput"),
        [
            # Two changes: the other process starts on the record, then its bar shows it.
            Try(_switch_new, "ProcessSwitched", ["INSTANCE_STARTED", "PROCESS_SWITCHED"]),
            Try(_switch_back, "ProcessSwitched", ["PROCESS_SWITCHED"]),
        ],
        [Try(_switch_same, "InvalidTransition"), Try(_switch_wrong_entity, "InvalidTransition")],
    ),
    "createRecord": Case(
        _input("createRecord", "CreateRecordInput"),
        [
            Try(
                fixed(input={"entity": "opportunity", "name": "New", "values": READY}),
                "RecordCreated",
                ["RECORD_CREATED"],
            )
        ],
        [
            Try(fixed(input={"entity": "nothing", "name": "New"}), "NotFound"),
            Try(fixed(input={"entity": "opportunity", "name": " "}), "InvalidValue"),
        ],
    ),
    "updateRecord": Case(
        _input("updateRecord", "UpdateRecordInput"),
        [Try(lambda w: _update_record(w, name="Renamed"), "RecordUpdated", ["RECORD_UPDATED"])],
        [
            Try(lambda w: _update_record(w, name="X", expectedVersion=99), "VersionConflict"),
            Try(lambda w: _update_record(w, values={"estimated_budget": "lots"}), "InvalidValue"),
        ],
    ),
}


async def _call(world: World, document: str, attempt: Try, variables: dict[str, Any]) -> str:
    """The answer: the result's member, or the error code of a refused request."""
    headers = attempt.headers(world, variables) if attempt.headers else None
    response = await world.gql.post(document, variables, user=attempt.user, headers=headers)
    payload = response.json()
    if payload.get("errors"):
        error = payload["errors"][0]
        return str((error.get("extensions") or {}).get("code", error["message"]))
    return str(next(iter(payload["data"].values()))["__typename"])


async def _events_after(world: World, seq: int) -> list[dict[str, Any]]:
    found = await world.run(
        "query($after: Int!) { events(afterSeq: $after, first: 100) { seq kind actor before after } }",
        after=seq,
    )
    return list(found["events"])


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The app without its webhook sender: each call is judged by the rows it leaves, and a
    sender moves its cursor and records its tries in the background."""
    application = create_app(Settings(database_url=database_url, webhook_sender=False))
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


@pytest.fixture
async def world(gql: Any) -> World:
    sales = await gql.execute("{ processes { id key } }")
    ids = {p["key"]: p["id"] for p in sales["processes"]}
    tiny = await gql.execute(
        _input("importProcess", "ImportProcessInput").replace(
            "__typename", "__typename ... on ProcessImported { process { id } }"
        ),
        {"input": {"definition": TINY, "publish": True}},
    )
    return World(
        gql=gql, sales=ids["opportunity-sales"], tiny=tiny["importProcess"]["process"]["id"]
    )


async def test_every_mutation_writes_one_event_per_change_and_none_when_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    assert set(CASES) == set(mutation_type.fields)

    async def no_event_row(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the event row cannot be written")

    writes = 0
    for name, case in CASES.items():
        for attempt in case.changes:
            variables = await attempt.setup(world)
            before = await _snapshot()
            seq = int((await world.run("{ lastEventSeq }"))["lastEventSeq"])
            with monkeypatch.context() as patch:
                patch.setattr(store, "append_event", no_event_row)
                patch.setattr(store, "write_at_once", no_event_row)
                failed = await _call(world, case.document, attempt, variables)
            assert failed == "Unexpected error.", name
            assert await _snapshot() == before, f"{name} changed something without its event"

            answer = await _call(world, case.document, attempt, variables)
            assert answer == attempt.answer, (name, variables)
            events = await _events_after(world, seq)
            assert [e["kind"] for e in events] == attempt.kinds, name
            assert [e["seq"] for e in events] == list(range(seq + 1, seq + 1 + len(events)))
            actor = "demo" if attempt.user == "demo" else None
            assert all(e["after"] is not None for e in events), name
            if actor:
                assert {e["actor"] for e in events} == {actor}, name
            writes += len(events)
            world.gql.http.cookies.clear()

        for attempt in [*case.refusals, *case.unchanged]:
            variables = await attempt.setup(world)
            world.gql.http.cookies.clear()
            before = await _snapshot()
            answer = await _call(world, case.document, attempt, variables)
            assert answer == attempt.answer, (name, variables, answer)
            assert await _snapshot() == before, f"{name} changed something: {variables}"
    print(f"audit walk: {len(CASES)} mutations, {writes} events checked")
    assert writes >= len(CASES)


async def test_a_saved_field_has_its_event_with_before_and_after(world: World) -> None:
    document = _input("saveField", "SaveFieldInput")
    seq = int((await world.run("{ lastEventSeq }"))["lastEventSeq"])
    field = {"entity": "opportunity", "key": "region", "label": "Region", "type": "TEXT"}
    await world.run(document, input=field)
    await world.run(document, input={**field, "label": "Sales region"})
    events = await _events_after(world, seq)
    assert [e["kind"] for e in events] == ["FIELD_SAVED", "FIELD_SAVED"]
    created, renamed = events
    assert created["before"] is None
    assert created["after"] == {
        "entity": "opportunity",
        "field": {"key": "region", "label": "Region", "type": "text"},
    }
    assert renamed["before"] == created["after"]
    assert renamed["after"]["field"]["label"] == "Sales region"
