"""The authorization matrix: every query, mutation and subscription, tried by an anonymous
caller, a user without the process's role, a user with it, a designer and an admin.

Opportunity Sales is restricted to the `sales` role. Each cell has an expected outcome:
ok, unauthenticated, forbidden, or hidden (not found, null, or absent from a list). A
leak is a cell expected to refuse or hide that answered instead. Every refused mutation
must change nothing: the event log stays where it was.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sockets import Closed, Socket
from starlette.applications import Starlette
from users import make_user

from server.app import create_app
from server.db.models import EventRow
from server.domain.access import BaseRole
from server.services import accounts
from server.services.seed import seed
from server.settings import Settings

ANON, OUTSIDER, MEMBER, DESIGNER, ADMIN = "anonymous", "outsider", "member", "designer", "admin"
ROLES = (ANON, OUTSIDER, MEMBER, DESIGNER, ADMIN)
OK, UNAUTH, FORBIDDEN, HIDDEN = "ok", "unauthenticated", "forbidden", "hidden"

SIGNED_IN = {ANON: UNAUTH, OUTSIDER: OK, MEMBER: OK, DESIGNER: OK, ADMIN: OK}
PUBLIC = dict.fromkeys(ROLES, OK)
DESIGN = {ANON: UNAUTH, OUTSIDER: FORBIDDEN, MEMBER: FORBIDDEN, DESIGNER: OK, ADMIN: OK}
ADMINS = {ANON: UNAUTH, OUTSIDER: FORBIDDEN, MEMBER: FORBIDDEN, DESIGNER: FORBIDDEN, ADMIN: OK}
# Records and instances of the restricted process: only its role (and admins) see them.
RUN = {ANON: UNAUTH, OUTSIDER: HIDDEN, MEMBER: OK, DESIGNER: HIDDEN, ADMIN: OK}
# Process definitions: designers see every one.
DEFINITION = {ANON: UNAUTH, OUTSIDER: HIDDEN, MEMBER: OK, DESIGNER: OK, ADMIN: OK}
# Someone else's token: only an admin may revoke it.
OTHERS_TOKEN = {ANON: UNAUTH, OUTSIDER: HIDDEN, MEMBER: HIDDEN, DESIGNER: HIDDEN, ADMIN: OK}

PASSWORD = "victim-password-1"
counter = itertools.count(1)


@dataclass
class World:
    gql: Any
    tokens: dict[str, str]
    sales: str  # the restricted process
    lead: str  # a process everyone may run
    victim: str  # a user others act on
    victim_id: str

    async def admin(self, query: str, **variables: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.gql.execute(query, variables, user="root")
        return data

    async def record(self, *, started: bool = True, **values: Any) -> tuple[str, str | None]:
        created = await self.admin(
            """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
                 ... on RecordCreated { record { id } } } }""",
            input={"entity": "opportunity", "name": f"Deal {next(counter)}", "values": values},
        )
        record_id = created["createRecord"]["record"]["id"]
        if not started:
            return record_id, None
        begun = await self.admin(
            """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
                 ... on InstanceStarted { instance { id } } } }""",
            input={"recordId": record_id, "processId": self.sales},
        )
        return record_id, begun["startInstance"]["instance"]["id"]

    async def instance(self, **values: Any) -> str:
        _, instance_id = await self.record(**values)
        assert instance_id is not None
        return instance_id

    async def advance(self, instance_id: str) -> None:
        done = await self.admin(
            """mutation($input: InstanceInput!) { advanceStage(input: $input) { __typename } }""",
            input={"instanceId": instance_id},
        )
        assert done["advanceStage"]["__typename"] == "StageAdvanced", done

    async def last_seq(self) -> int:
        return int((await self.admin("{ lastEventSeq }"))["lastEventSeq"])


READY = {"estimated_budget": "1000", "decision_maker_identified": True}

Setup = Callable[[World], Awaitable[dict[str, Any]]]
Judge = Callable[[dict[str, Any], World, str], str]


async def _nothing(_: World) -> dict[str, Any]:
    return {}


def _typename(ok: str) -> Judge:
    """A result union: `ok`'s member is ok, NotFound is hidden."""

    def judge(data: dict[str, Any], world: World, role: str) -> str:
        name = next(iter(data.values()))["__typename"]
        return OK if name == ok else HIDDEN if name == "NotFound" else f"answered {name}"

    return judge


def _reached(data: dict[str, Any], world: World, role: str) -> str:
    """Any answer but NotFound: the caller reached the object (a refusal of the move
    itself, like an invalid mapping, still tells it is there)."""
    name = next(iter(data.values()))["__typename"]
    return HIDDEN if name == "NotFound" else OK


def _present(data: dict[str, Any], world: World, role: str) -> str:
    value = next(iter(data.values()))
    return OK if value not in (None, [], {}) else HIDDEN


def _lists_sales(data: dict[str, Any], world: World, role: str) -> str:
    return OK if world.sales in [p["id"] for p in data["processes"]] else HIDDEN


def _counted(data: dict[str, Any], world: World, role: str) -> str:
    return OK if next(iter(data.values()))["totalCount"] > 0 else HIDDEN


def _me(data: dict[str, Any], world: World, role: str) -> str:
    me = data["me"]
    expected = None if role == ANON else role
    return OK if (me and me["name"]) == expected else f"answered {me}"


@dataclass
class Op:
    name: str
    document: str
    expect: dict[str, str]
    judge: Judge = _present
    setup: Setup = _nothing
    changes: bool = False  # a mutation: refusals must leave the event log as it was


def _variables(**fixed: Any) -> Setup:
    async def setup(world: World) -> dict[str, Any]:
        return {k: getattr(world, v[1:]) if str(v).startswith("@") else v for k, v in fixed.items()}

    return setup


async def _restricted_record(world: World) -> dict[str, Any]:
    record_id, _ = await world.record()
    return {"id": record_id}


async def _restricted_instance(world: World) -> dict[str, Any]:
    return {"id": await world.instance()}


async def _ready_instance(world: World) -> dict[str, Any]:
    return {"input": {"instanceId": await world.instance(**READY)}}


async def _advanced_instance(world: World) -> dict[str, Any]:
    instance_id = await world.instance(**READY)
    await world.advance(instance_id)
    return {"input": {"instanceId": instance_id, "stage": "qualify"}}


async def _abandoned_instance(world: World) -> dict[str, Any]:
    instance_id = await world.instance()
    await world.admin(
        "mutation($input: InstanceInput!) { abandonInstance(input: $input) { __typename } }",
        input={"instanceId": instance_id},
    )
    return {"input": {"instanceId": instance_id}}


async def _instance_input(world: World) -> dict[str, Any]:
    return {"input": {"instanceId": await world.instance()}}


async def _step(world: World) -> dict[str, Any]:
    instance_id = await world.instance()
    return {"input": {"instanceId": instance_id, "field": "estimated_budget", "value": 5}}


async def _start(world: World) -> dict[str, Any]:
    record_id, _ = await world.record(started=False)
    return {"input": {"recordId": record_id, "processId": world.sales}}


async def _switch(world: World) -> dict[str, Any]:
    record_id, _ = await world.record()
    lead = await world.admin('{ processes(entity: "opportunity") { id key } }')
    other = next(p["id"] for p in lead["processes"] if p["key"] == "enterprise-deal")
    return {"input": {"recordId": record_id, "processId": other}}


async def _update_record(world: World) -> dict[str, Any]:
    record_id, _ = await world.record()
    return {"input": {"recordId": record_id, "name": "Renamed"}}


async def _new_process(world: World) -> str:
    created = await world.admin(
        """mutation($input: CreateProcessInput!) { createProcess(input: $input) {
             ... on ProcessDraftSaved { draft { processId version } } } }""",
        input={"template": "phone-to-case", "key": f"case-{next(counter)}"},
    )
    return str(created["createProcess"]["draft"]["processId"])


async def _draft(world: World) -> dict[str, Any]:
    return {"input": {"processId": await _new_process(world)}}


async def _published(world: World) -> str:
    process_id = await _new_process(world)
    await world.admin(
        """mutation($input: DraftInput!) { publishProcess(input: $input) { __typename } }""",
        input={"processId": process_id},
    )
    return process_id


async def _published_id(world: World) -> dict[str, Any]:
    return {"id": await _published(world)}


async def _deactivated_id(world: World) -> dict[str, Any]:
    process_id = await _published(world)
    await world.admin(
        "mutation($id: ID!) { deactivateProcess(processId: $id) { __typename } }", id=process_id
    )
    return {"id": process_id}


async def _update_process(world: World) -> dict[str, Any]:
    process_id = await _new_process(world)
    design = await world.admin(
        "query($id: ID!) { design(processId: $id) { definition } }", id=process_id
    )
    definition = {**design["design"]["definition"], "name": "Renamed"}
    return {"input": {"processId": process_id, "definition": definition}}


async def _reorder(world: World) -> dict[str, Any]:
    found = await world.admin('{ processes(entity: "case") { id } }')
    return {"entity": "case", "ids": [p["id"] for p in found["processes"]]}


async def _import(world: World) -> dict[str, Any]:
    template = await world.admin("{ templates { key definition } }")
    definition = next(t for t in template["templates"] if t["key"] == "phone-to-case")
    definition = {**definition["definition"], "key": f"imported-{next(counter)}"}
    return {"input": {"definition": definition}}


async def _field(world: World) -> dict[str, Any]:
    key = f"note_{next(counter)}"
    return {"input": {"entity": "opportunity", "key": key, "label": "Note", "type": "TEXT"}}


async def _sign_in(world: World) -> dict[str, Any]:
    return {"input": {"name": world.victim, "password": PASSWORD}}


async def _victims_token(world: World) -> dict[str, Any]:
    user = await accounts.user_named(world.victim)
    issued = await accounts.create_token(world.gql.app.state.runtime, user, label="victim")
    return {"id": str(issued.credential.id)}


async def _new_user(world: World) -> dict[str, Any]:
    return {"input": {"name": f"new{next(counter)}", "password": PASSWORD}}


async def _update_user(world: World) -> dict[str, Any]:
    return {"input": {"userId": world.victim_id, "roles": ["support"]}}


def _mutation(name: str, input_type: str, selection: str = "") -> str:
    return f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{
      __typename {selection} }} }}"""


async def _webhook(world: World) -> dict[str, Any]:
    done = await world.admin(
        """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
             ... on WebhookCreated { webhook { id } } } }""",
        input={"url": "https://hooks.example.com/in", "topics": ["FINISHED"]},
    )
    return {"id": done["createWebhook"]["webhook"]["id"]}


async def _webhook_made(world: World) -> dict[str, Any]:
    await _webhook(world)
    return {}


async def _webhook_input(world: World) -> dict[str, Any]:
    return {"input": await _webhook(world)}


async def _new_webhook(world: World) -> dict[str, Any]:
    return {"input": {"url": "https://hooks.example.com/new", "topics": ["STAGE_ENTERED"]}}


OPS = [
    Op("webhooks", "{ webhooks { id url } }", DESIGN, setup=_webhook_made),
    Op("webhook", "query($id: ID!) { webhook(id: $id) { id } }", DESIGN, setup=_webhook),
    Op(
        "createWebhook",
        _mutation("createWebhook", "CreateWebhookInput"),
        DESIGN,
        judge=_typename("WebhookCreated"),
        setup=_new_webhook,
        changes=True,
    ),
    Op(
        "pauseWebhook",
        _mutation("pauseWebhook", "WebhookInput"),
        DESIGN,
        judge=_typename("WebhookSaved"),
        setup=_webhook_input,
        changes=True,
    ),
    # Queries
    Op("templates", "{ templates { key } }", DESIGN),
    Op("drafts", "{ drafts { processId } }", DESIGN, judge=lambda d, w, r: OK),
    Op(
        "design",
        "query($id: ID!) { design(processId: $id) { key } }",
        DESIGN,
        setup=_variables(id="@sales"),
    ),
    Op(
        "exportProcess",
        "query($id: ID!) { exportProcess(processId: $id) }",
        DESIGN,
        setup=_variables(id="@sales"),
    ),
    Op("processes", "{ processes { id } }", DEFINITION, judge=_lists_sales),
    Op(
        "process",
        "query($id: ID!) { process(id: $id) { id } }",
        DEFINITION,
        setup=_variables(id="@sales"),
    ),
    Op("entities", "{ entities { key } }", SIGNED_IN),
    Op(
        "records",
        "query($id: ID!) { records(first: 100) { edges { node { id } } } record(id: $id) { id } }",
        RUN,
        judge=lambda d, w, r: OK if d["record"] else HIDDEN,
        setup=_restricted_record,
    ),
    Op(
        "records (list)",
        '{ records(entity: "opportunity", processId: null, first: 100) { totalCount } }',
        RUN,
        judge=_counted,
        setup=_restricted_record,
    ),
    Op(
        "record",
        "query($id: ID!) { record(id: $id) { id } }",
        RUN,
        setup=_restricted_record,
    ),
    Op(
        "instances",
        "query($p: ID) { instances(processId: $p, first: 100) { totalCount } }",
        RUN,
        judge=_counted,
        setup=_variables(p="@sales"),
    ),
    Op(
        "instance",
        "query($id: ID!) { instance(id: $id) { id } }",
        RUN,
        setup=_restricted_instance,
    ),
    Op(
        "events",
        "query($id: ID!) { events(instanceId: $id, first: 10) { seq } }",
        RUN,
        setup=_restricted_instance,
    ),
    Op(
        "insights",
        "query($id: ID!) { insights(input: {processId: $id}) { funnel { reached } } }",
        RUN,
        setup=_variables(id="@sales"),
    ),
    Op("lastEventSeq", "{ lastEventSeq }", SIGNED_IN, judge=lambda d, w, r: OK),
    Op("me", "{ me { name } }", PUBLIC, judge=_me),
    Op("users", "{ users { name } }", ADMINS),
    Op("apiTokens", "{ apiTokens { id } }", SIGNED_IN, judge=lambda d, w, r: OK),
    # Mutations
    Op(
        "createProcess",
        _mutation("createProcess", "CreateProcessInput"),
        DESIGN,
        judge=_typename("ProcessDraftSaved"),
        setup=lambda w: _variables(input={"template": "phone-to-case", "key": f"k{next(counter)}"})(
            w
        ),
        changes=True,
    ),
    Op(
        "updateProcess",
        _mutation("updateProcess", "UpdateProcessInput"),
        DESIGN,
        judge=_typename("ProcessDraftSaved"),
        setup=_update_process,
        changes=True,
    ),
    Op(
        "discardDraft",
        _mutation("discardDraft", "DraftInput"),
        DESIGN,
        judge=lambda d, w, r: OK,
        setup=_draft,
        changes=True,
    ),
    Op(
        "publishProcess",
        _mutation("publishProcess", "DraftInput"),
        DESIGN,
        judge=_typename("ProcessPublished"),
        setup=_draft,
        changes=True,
    ),
    Op(
        "deactivateProcess",
        "mutation($id: ID!) { deactivateProcess(processId: $id) { __typename } }",
        DESIGN,
        judge=_typename("ProcessStatusChanged"),
        setup=_published_id,
        changes=True,
    ),
    Op(
        "activateProcess",
        "mutation($id: ID!) { activateProcess(processId: $id) { __typename } }",
        DESIGN,
        judge=_typename("ProcessStatusChanged"),
        setup=_deactivated_id,
        changes=True,
    ),
    Op(
        "reorderProcesses",
        """mutation($entity: String!, $ids: [ID!]!) {
             reorderProcesses(entity: $entity, processIds: $ids) { __typename } }""",
        DESIGN,
        judge=_typename("ProcessesReordered"),
        setup=_reorder,
        changes=True,
    ),
    Op(
        "migrateInstances",
        _mutation("migrateInstances", "MigrateInstancesInput"),
        DESIGN,
        judge=_reached,
        setup=lambda w: _variables(
            input={"processId": w.sales, "fromVersion": 1, "toVersion": 1, "dryRun": True}
        )(w),
        changes=True,
    ),
    Op(
        "importProcess",
        _mutation("importProcess", "ImportProcessInput"),
        DESIGN,
        judge=_typename("ProcessImported"),
        setup=_import,
        changes=True,
    ),
    Op(
        "saveField",
        _mutation("saveField", "SaveFieldInput"),
        DESIGN,
        judge=_typename("FieldSaved"),
        setup=_field,
        changes=True,
    ),
    Op(
        "setProcessRoles",
        """mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["support"]) {
             __typename } }""",
        DESIGN,
        judge=_typename("ProcessRolesSet"),
        setup=_published_id,
        changes=True,
    ),
    Op(
        "setProcessRoles of a process the designer may not run",
        """mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["sales"]) {
             __typename } }""",
        ADMINS,
        judge=_typename("ProcessRolesSet"),
        setup=_variables(id="@sales"),
        changes=True,
    ),
    Op(
        "startInstance",
        _mutation("startInstance", "StartInstanceInput"),
        RUN,
        judge=_typename("InstanceStarted"),
        setup=_start,
        changes=True,
    ),
    Op(
        "completeStep",
        _mutation("completeStep", "CompleteStepInput"),
        RUN,
        judge=_typename("StepCompleted"),
        setup=_step,
        changes=True,
    ),
    Op(
        "advanceStage",
        _mutation("advanceStage", "InstanceInput"),
        RUN,
        judge=_typename("StageAdvanced"),
        setup=_ready_instance,
        changes=True,
    ),
    Op(
        "moveToStage",
        _mutation("moveToStage", "MoveToStageInput"),
        RUN,
        judge=_typename("StageMoved"),
        setup=_advanced_instance,
        changes=True,
    ),
    Op(
        "finishInstance",
        _mutation("finishInstance", "FinishInstanceInput"),
        RUN,
        # Not on its last stage: refused as a move, which tells the instance is there.
        judge=_typename("InvalidTransition"),
        setup=_instance_input,
        changes=True,
    ),
    Op(
        "abandonInstance",
        _mutation("abandonInstance", "InstanceInput"),
        RUN,
        judge=_typename("InstanceAbandoned"),
        setup=_instance_input,
        changes=True,
    ),
    Op(
        "reactivateInstance",
        _mutation("reactivateInstance", "InstanceInput"),
        RUN,
        judge=_typename("InstanceReactivated"),
        setup=_abandoned_instance,
        changes=True,
    ),
    Op(
        "switchProcess",
        _mutation("switchProcess", "SwitchProcessInput"),
        RUN,
        judge=_typename("ProcessSwitched"),
        setup=_switch,
        changes=True,
    ),
    Op(
        "createRecord",
        _mutation("createRecord", "CreateRecordInput"),
        SIGNED_IN,
        judge=_typename("RecordCreated"),
        setup=lambda w: _variables(input={"entity": "opportunity", "name": "New"})(w),
        changes=True,
    ),
    Op(
        "updateRecord",
        _mutation("updateRecord", "UpdateRecordInput"),
        RUN,
        judge=_typename("RecordUpdated"),
        setup=_update_record,
        changes=True,
    ),
    Op(
        "signIn",
        _mutation("signIn", "SignInInput"),
        PUBLIC,
        judge=_typename("SignedIn"),
        setup=_sign_in,
    ),
    Op("signOut", "mutation { signOut { user { name } } }", SIGNED_IN),
    Op(
        "createApiToken",
        'mutation { createApiToken(label: "cli") { token { id } } }',
        SIGNED_IN,
        changes=True,
    ),
    Op(
        "revokeApiToken",
        "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }",
        OTHERS_TOKEN,
        judge=_typename("ApiTokenRevoked"),
        setup=_victims_token,
        changes=True,
    ),
    Op(
        "createUser",
        _mutation("createUser", "CreateUserInput"),
        ADMINS,
        judge=_typename("UserSaved"),
        setup=_new_user,
        changes=True,
    ),
    Op(
        "updateUser",
        _mutation("updateUser", "UpdateUserInput"),
        ADMINS,
        judge=_typename("UserSaved"),
        setup=_update_user,
        changes=True,
    ),
]


@dataclass
class Cells:
    tried: int = 0
    leaks: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    changed_by_refusal: list[str] = field(default_factory=list)

    def record(self, where: str, expected: str, actual: str) -> None:
        self.tried += 1
        if actual != expected:
            self.mismatches.append(f"{where}: expected {expected}, got {actual}")
            if expected != OK and actual == OK:
                self.leaks.append(where)


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The app without its webhook sender: the webhooks the matrix registers would fail
    their tries and be paused in the background, an event no cell wrote."""
    application = create_app(Settings(database_url=database_url, webhook_sender=False))
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


@pytest.fixture
async def world(gql: Any) -> World:
    tokens: dict[str, str] = {}
    _, tokens[OUTSIDER] = await make_user(OUTSIDER, BaseRole.USER)
    _, tokens[MEMBER] = await make_user(MEMBER, BaseRole.USER, frozenset({"sales"}))
    _, tokens[DESIGNER] = await make_user(DESIGNER, BaseRole.DESIGNER)
    _, tokens[ADMIN] = await make_user(ADMIN, BaseRole.ADMIN)
    gql.tokens["root"] = (await make_user("root"))[1]
    processes = await gql.execute("{ processes { id key } }", user="root")
    ids = {p["key"]: p["id"] for p in processes["processes"]}
    runtime = gql.app.state.runtime
    await accounts.set_process_roles(
        runtime, process_id=int(ids["opportunity-sales"]), roles=["sales"], by="root"
    )
    victim = await accounts.create_user(runtime, name="victim", password=PASSWORD, by="root")
    return World(
        gql=gql,
        tokens=tokens,
        sales=ids["opportunity-sales"],
        lead=ids["lead-to-opportunity"],
        victim="victim",
        victim_id=str(victim.id),
    )


def _outcome(payload: dict[str, Any]) -> str | None:
    if not payload.get("errors"):
        return None
    code = (payload["errors"][0].get("extensions") or {}).get("code")
    return {"UNAUTHENTICATED": UNAUTH, "FORBIDDEN": FORBIDDEN}.get(
        code, f"error {payload['errors'][0]['message']}"
    )


async def test_every_query_and_mutation_for_every_kind_of_caller(world: World) -> None:
    cells = Cells()
    for op, role in itertools.product(OPS, ROLES):
        variables = await op.setup(world)
        before = await world.last_seq()
        token = world.tokens.get(role)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await world.gql.post(op.document, variables, user=None, headers=headers)
        world.gql.http.cookies.clear()  # signIn's cookie belongs to that cell alone
        payload = response.json()
        actual = _outcome(payload) or op.judge(payload["data"], world, role)
        where = f"{op.name} as {role}"
        cells.record(where, op.expect[role], actual)
        if op.changes and actual != OK and await world.last_seq() != before:
            written = await EventRow.filter(seq__gt=before).values_list("kind", "actor")
            cells.changed_by_refusal.append(f"{where}: wrote {written}")
    print(f"authorization matrix: {len(cells.leaks)} leaks in {cells.tried} cells")
    assert cells.leaks == []
    assert cells.mismatches == []
    assert cells.changed_by_refusal == []
    assert cells.tried == len(OPS) * len(ROLES)


STAGE_CHANGED = """subscription($p: ID) { stageChanged(processId: $p) {
  kind instanceId instance { id } } }"""
INSTANCE_EVENTS = """subscription($id: ID!) { instanceEvents(instanceId: $id) {
  kind instanceId } }"""
EVERY_STAGE_CHANGE = "subscription { stageChanged { kind processId instanceId } }"


async def _first_event(socket: Socket) -> str:
    message = await socket.receive()
    if message["type"] == "error" or message["payload"].get("errors"):
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        return HIDDEN if "not found" in errors[0]["message"] else f"error {errors}"
    return OK


async def test_every_subscription_for_every_kind_of_caller(world: World) -> None:
    """Subscribed first, then a change made: who receives it, who is refused."""
    cells = Cells()
    for role in ROLES:
        for name, document, target in [
            ("stageChanged(processId)", STAGE_CHANGED, "process"),
            ("instanceEvents", INSTANCE_EVENTS, "instance"),
        ]:
            instance_id = await world.instance(**READY)
            variables = {"p": world.sales} if target == "process" else {"id": instance_id}
            try:
                async with Socket(world.gql.app, world.tokens.get(role)) as socket:
                    await socket.subscribe("1", document, **variables)
                    await world.advance(instance_id)
                    actual = await _first_event(socket)
            except Closed as closed:
                actual = UNAUTH if closed.code == 4403 else f"closed {closed.code}"
            cells.record(f"{name} as {role}", RUN[role], actual)

        # Unfiltered: the restricted process's move is not sent; an open process's is.
        if role == ANON:
            continue
        async with Socket(world.gql.app, world.tokens[role]) as socket:
            await socket.subscribe("1", EVERY_STAGE_CHANGE)
            await world.advance(await world.instance(**READY))
            lead = await world.admin(
                """mutation($input: CreateRecordInput!) { createRecord(input: $input) {
                     ... on RecordCreated { record { id } } } }""",
                input={"entity": "lead", "name": "Lead"},
            )
            await world.admin(
                """mutation($input: StartInstanceInput!) { startInstance(input: $input) {
                     __typename } }""",
                input={"recordId": lead["createRecord"]["record"]["id"]},
            )
            first = (await socket.receive())["payload"]["data"]["stageChanged"]
            actual = OK if first["processId"] == world.sales else HIDDEN
            cells.record(f"stageChanged() as {role}", RUN[role], actual)
    print(f"subscriptions: {len(cells.leaks)} leaks in {cells.tried} cells")
    assert cells.leaks == [] and cells.mismatches == []


BYPASSES = {
    "alias": "{ mine: records { totalCount } }",
    "fragment at the root": "{ me { name } ...F } fragment F on Query { records { totalCount } }",
    "inline fragment": "{ ... on Query { records { totalCount } } }",
    "nested fragments": """{ ...A } fragment A on Query { ...B }
        fragment B on Query { events(first: 5) { seq } }""",
}


@pytest.mark.parametrize("document", BYPASSES.values(), ids=BYPASSES.keys())
async def test_the_policy_sees_through_aliases_fragments_and_operations(
    gql: Any, document: str
) -> None:
    before = (await gql.execute("{ lastEventSeq }"))["lastEventSeq"]
    payload = (await gql.post(document, user=None)).json()
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", payload
    assert (await gql.execute("{ lastEventSeq }"))["lastEventSeq"] == before


async def test_a_named_public_operation_runs_for_anyone(gql: Any) -> None:
    document = "query Me { me { name } } query Rest { records { totalCount } }"
    response = await gql.http.post("/graphql", json={"query": document, "operationName": "Me"})
    assert response.json() == {"data": {"me": None}}
    refused = await gql.http.post("/graphql", json={"query": document, "operationName": "Rest"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
