"""A change whose answer is made of its own values runs without the general executor once its
document has run in full, and is answered as the executor answers it: the same keys in the
same order, the same types, enums and nulls, the same refusals; whatever the plan does not
cover runs in full."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from documents import CREATE_RECORD
from making import new_instance
from users import make_user

from server.api.direct import plan_of
from server.api.schema import schema
from server.db import store
from server.db.models import EventRow, InstanceRow, RecordRow
from server.db.outage import OutcomeUnknown
from server.domain.access import BaseRole
from server.services import accounts, instances

CHANGE = """__typename
    ... on InstanceChange {
      instance { id version status processVersion startedAt activeSince completedAt }
      event { seq kind actor at recordId instanceId processId fromStage toStage }
    }
    ... on Error { message }
    ... on VersionConflict { kind id currentVersion expectedVersion }
    ... on InvalidTransition { code }
    ... on NotFound { kind id }"""
GATE = "... on StageGateBlocked { stage { key name category } missingSteps { field { key label type } required } }"
STEP = f"""mutation Step($id: ID!, $value: JSON, $key: String, $expected: Int) {{
  completeStep(input: {{instanceId: $id, field: "estimated_budget", value: $value,
                       idempotencyKey: $key, expectedVersion: $expected}}) {{
    {CHANGE}
    ... on InvalidValue {{ field reason }}
  }}
}}"""
# The whole input as one variable, an alias, and only the union's type.
STEP_INPUT = """mutation($input: CompleteStepInput!) {
  done: completeStep(input: $input) { kind: __typename ... on StepCompleted { instance { v: version } } }
}"""
ADVANCE = (
    f"""mutation($id: ID!) {{ advanceStage(input: {{instanceId: $id}}) {{ {CHANGE} {GATE} }} }}"""
)
MOVE_BACK = f"""mutation($id: ID!, $stage: String!) {{
  moveToStage(input: {{instanceId: $id, stage: $stage}}) {{ {CHANGE} }} }}"""
ABANDON = f"""mutation($id: ID!) {{ abandonInstance(input: {{instanceId: $id}}) {{ {CHANGE} }} }}"""
REACTIVATE = (
    f"""mutation($id: ID!) {{ reactivateInstance(input: {{instanceId: $id}}) {{ {CHANGE} }} }}"""
)
FINISH = f"""mutation($id: ID!, $outcome: String, $reason: String) {{
  finishInstance(input: {{instanceId: $id, outcome: $outcome, reason: $reason}}) {{
    {CHANGE.replace("completedAt }", "completedAt outcomeReason completedBy }")}
    ... on InvalidOutcome {{ outcomes {{ key label reasonRequired }} reasonRequired }}
  }}
}}"""
# A one-stage process declaring how it ends: Won, or Lost with a reason.
QUICK = {
    "key": "quick",
    "name": "Quick",
    "entity": "opportunity",
    "outcomes": [
        {"key": "won", "label": "Won"},
        {"key": "lost", "label": "Lost", "reason": "required"},
    ],
    "stages": [{"key": "close", "name": "Close", "category": "CLOSE", "steps": []}],
}
RECORD = """__typename
    ... on RecordChange {
      record { id entity name owner values version createdAt updatedAt }
      event { seq kind actor at recordId instanceId processId }
    }
    ... on Error { message }
    ... on VersionConflict { currentVersion expectedVersion }"""
UPDATE = f"""mutation($id: ID!, $values: JSON, $expected: Int) {{
  updateRecord(input: {{recordId: $id, values: $values, expectedVersion: $expected}}) {{ {RECORD} }}
}}"""
START_ON = f"""mutation($id: ID!) {{ startInstance(input: {{recordId: $id}}) {{ {CHANGE} }} }}"""
CREATE = """mutation($name: String!) {
  createRecord(input: {entity: "opportunity", name: $name, values: {estimated_budget: 7}}) {
    __typename ... on RecordCreated { record { id entity name owner values version } }
    ... on Error { message } } }"""

# What differs between two runs of one change on twin instances.
VARYING = {
    "id",
    "seq",
    "at",
    "recordId",
    "instanceId",
    "startedAt",
    "activeSince",
    "completedAt",
    "createdAt",
    "updatedAt",
}


def _counts(gql: Any) -> tuple[int, int, int]:
    counts = gql.app.state.graphql.direct.counts
    return counts.planned, counts.answered, counts.declined


def _alike(body: Any) -> str:
    """The answer with what differs between twin runs (ids, seqs, times) told by its shape."""

    def shape(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: shape(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        if key in VARYING and isinstance(value, str | int):
            text = str(value)
            if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", text):
                return "<time>"
            assert re.fullmatch(r"\d+", text), (key, value)
            return f"<number {type(value).__name__}>"
        return value

    return json.dumps(shape(body))


async def _full(gql: Any, document: str, variables: dict[str, Any], **kw: Any) -> Any:
    """The request run in full, as with direct changes off."""
    view = gql.app.state.graphql
    direct, view.direct = view.direct, None
    try:
        return await gql.post(document, variables, **kw)
    finally:
        view.direct = direct


async def _snapshot() -> tuple[Any, ...]:
    instances = await InstanceRow.all().order_by("id").values_list("id", "version")
    records = await RecordRow.all().order_by("id").values_list("id", "version")
    return tuple(instances), tuple(records), await EventRow.all().count()


async def _twins(make: Callable[[], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Three instances in the same state: one to plan the document on, one for each run."""
    return [await make() for _ in range(3)]


async def _opportunity(gql: Any) -> dict[str, Any]:
    iid = await new_instance(gql, "Twin")
    row = await InstanceRow.get(id=int(iid))
    return {"id": iid, "record": str(row.record_id)}


async def _record(gql: Any) -> dict[str, Any]:
    """An opportunity on no process yet."""
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Twin", "values": {}}}
    )
    return {"record": created["createRecord"]["record"]["id"]}


async def _qualified(gql: Any) -> dict[str, Any]:
    """An opportunity whose first stage's required steps are done."""
    made = await _opportunity(gql)
    for field, value in (("estimated_budget", 5000), ("decision_maker_identified", True)):
        done = await gql.execute(
            """mutation($id: ID!, $field: String!, $value: JSON) { completeStep(input:
            {instanceId: $id, field: $field, value: $value}) { __typename } }""",
            {"id": made["id"], "field": field, "value": value},
        )
        assert done["completeStep"]["__typename"] == "StepCompleted"
    return made


async def _advanced(gql: Any) -> dict[str, Any]:
    made = await _qualified(gql)
    await gql.execute(ADVANCE, {"id": made["id"]})
    return made


async def _at_close(gql: Any) -> dict[str, Any]:
    """An opportunity on the last stage of Quick, which declares outcomes."""
    found = await gql.execute("{ processes { id key } }")
    quick = next((p["id"] for p in found["processes"] if p["key"] == "quick"), None)
    if quick is None:
        done = await gql.execute(
            """mutation($input: ImportProcessInput!) { importProcess(input: $input) {
            ... on ProcessImported { process { id } } } }""",
            {"input": {"definition": QUICK, "publish": True}},
        )
        quick = done["importProcess"]["process"]["id"]
    record = await _record(gql)
    started = await gql.execute(
        """mutation($id: ID!, $process: ID) { startInstance(input: {recordId: $id,
        processId: $process}) { ... on InstanceStarted { instance { id } } } }""",
        {"id": record["record"], "process": quick},
    )
    return {"id": started["startInstance"]["instance"]["id"], **record}


async def _abandoned(gql: Any) -> dict[str, Any]:
    made = await _opportunity(gql)
    await gql.execute(ABANDON, {"id": made["id"]})
    return made


# (name, how to make a twin, the document, its variables for a twin)
SUCCESSES: list[tuple[str, Any, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    ("a step", _opportunity, STEP, lambda t: {"id": t["id"], "value": 1250.5}),
    ("a step cleared", _opportunity, STEP, lambda t: {"id": t["id"], "value": None}),
    (
        "a step by its input",
        _opportunity,
        STEP_INPUT,
        lambda t: {"input": {"instanceId": t["id"], "field": "estimated_budget", "value": "12"}},
    ),
    ("an advance", _qualified, ADVANCE, lambda t: {"id": t["id"]}),
    ("a move back", _advanced, MOVE_BACK, lambda t: {"id": t["id"], "stage": "qualify"}),
    ("a start", _record, START_ON, lambda t: {"id": t["record"]}),
    ("an abandon", _opportunity, ABANDON, lambda t: {"id": t["id"]}),
    ("a finish", _at_close, FINISH, lambda t: {"id": t["id"], "outcome": "won"}),
    (
        "a finish with a reason",
        _at_close,
        FINISH,
        lambda t: {"id": t["id"], "outcome": "lost", "reason": " Went elsewhere "},
    ),
    ("a reactivation", _abandoned, REACTIVATE, lambda t: {"id": t["id"]}),
    (
        "a record's values",
        _opportunity,
        UPDATE,
        lambda t: {"id": t["record"], "values": {"estimated_budget": 99, "customer_need": "Fleet"}},
    ),
]


@pytest.mark.parametrize("case", SUCCESSES, ids=[case[0] for case in SUCCESSES])
async def test_a_change_is_answered_as_the_executor_answers_it(gql: Any, case: Any) -> None:
    _, make, document, variables = case
    learn, full, direct = await _twins(lambda: make(gql))
    first = await gql.post(document, variables(learn))  # run in full once: planned
    assert "errors" not in first.json(), first.json()
    planned, answered, _ = _counts(gql)
    assert planned >= 1
    by_executor = await _full(gql, document, variables(full))
    directly = await gql.post(document, variables(direct))
    assert _counts(gql)[1] == answered + 1, "answered directly"
    assert directly.status_code == by_executor.status_code == 200
    assert "errors" not in directly.json(), directly.json()
    assert _alike(directly.json()) == _alike(by_executor.json())
    # And what it answered is what was written.
    found = next(iter(directly.json()["data"].values()))
    if "event" in found:
        stored = await EventRow.get(seq=found["event"]["seq"])
        assert stored.kind == found["event"]["kind"]
        assert str(stored.instance_id) == str(found["event"]["instanceId"])


async def test_a_record_made_directly_is_answered_as_the_executor_answers_it(gql: Any) -> None:
    first = await gql.post(CREATE, {"name": "Learn"})
    assert "errors" not in first.json(), first.json()
    by_executor = await _full(gql, CREATE, {"name": "Same"})
    answered = _counts(gql)[1]
    directly = await gql.post(CREATE, {"name": "Same"})
    assert _counts(gql)[1] == answered + 1
    assert _alike(directly.json()) == _alike(by_executor.json())


async def _refusals(gql: Any) -> list[tuple[str, dict[str, Any], str]]:
    """(document, variables, the union member) that refuse and change nothing."""
    fresh = await _opportunity(gql)
    finished = await _abandoned(gql)
    closing = await _at_close(gql)
    version = (await InstanceRow.get(id=int(fresh["id"]))).version
    return [
        (STEP, {"id": fresh["id"], "value": 1, "expected": version + 5}, "VersionConflict"),
        (STEP, {"id": "999999", "value": 1}, "NotFound"),
        (STEP, {"id": finished["id"], "value": 1}, "InvalidTransition"),
        (STEP, {"id": fresh["id"], "value": "not a number"}, "InvalidValue"),
        (STEP, {"id": fresh["id"], "value": 1, "key": "k" * 201}, "InvalidValue"),
        (ADVANCE, {"id": fresh["id"]}, "StageGateBlocked"),
        (MOVE_BACK, {"id": fresh["id"], "stage": "close"}, "InvalidTransition"),
        (UPDATE, {"id": fresh["record"], "values": {}, "expected": 0}, "VersionConflict"),
        (FINISH, {"id": closing["id"]}, "InvalidOutcome"),
        (FINISH, {"id": closing["id"], "outcome": "lost", "reason": "  "}, "InvalidOutcome"),
        (FINISH, {"id": fresh["id"], "outcome": "won"}, "InvalidTransition"),
    ]


async def test_a_refusal_is_answered_as_the_executor_answers_it_and_changes_nothing(
    gql: Any,
) -> None:
    for document, variables, member in await _refusals(gql):
        first = await gql.post(document, variables)  # planned, if it was not yet
        assert "errors" not in first.json(), first.json()
        before = await _snapshot()
        by_executor = await _full(gql, document, variables)
        answered = _counts(gql)[1]
        directly = await gql.post(document, variables)
        assert _counts(gql)[1] == answered + 1, (member, variables)
        assert directly.content == by_executor.content, (member, variables)
        assert next(iter(directly.json()["data"].values()))["__typename"] == member
        assert await _snapshot() == before, member


async def test_what_the_plan_cannot_take_runs_in_full(gql: Any) -> None:
    """Variables of the wrong type, no credential, a session without its CSRF token: each is
    answered by the full run, as with direct changes off, and changes nothing."""
    made = await _opportunity(gql)
    await gql.post(STEP, {"id": made["id"], "value": 1})  # planned
    token = await gql.token("demo")
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"id": 1.5, "value": 1}, {}),
        ({"value": 1}, {}),
        ({"id": made["id"], "value": 1, "expected": "three"}, {}),
        ({"id": made["id"], "value": 1}, {"user": None}),
        (
            {"id": made["id"], "value": 1},
            {"user": None, "headers": {"authorization": f"Bearer {token}x"}},
        ),
    ]
    for variables, how in cases:
        before = await _snapshot()
        by_executor = await _full(gql, STEP, variables, **how)
        declined = _counts(gql)[2]
        directly = await gql.post(STEP, variables, **how)
        assert _counts(gql)[2] == declined + 1, variables
        assert directly.status_code == by_executor.status_code
        assert directly.json() == by_executor.json(), variables
        assert "errors" in directly.json(), directly.json()
        assert await _snapshot() == before


async def test_a_session_without_its_csrf_token_runs_in_full_and_is_refused(gql: Any) -> None:
    made = await _opportunity(gql)
    await gql.post(STEP, {"id": made["id"], "value": 1})  # planned
    await accounts.create_user(
        gql.app.state.runtime, name="cara", password="a-long-secret-37", by="tests"
    )
    signed = await gql.post(
        'mutation { signIn(input: {name: "cara", password: "a-long-secret-37"}) {'
        " ... on SignedIn { user { csrfToken } } } }",
        user=None,
    )
    csrf = signed.json()["data"]["signIn"]["user"]["csrfToken"]
    before = await _snapshot()
    declined = _counts(gql)[2]
    refused = (await gql.post(STEP, {"id": made["id"], "value": 2}, user=None)).json()
    assert refused["errors"][0]["extensions"]["code"] == "CSRF_TOKEN_INVALID"
    assert _counts(gql)[2] == declined + 1
    assert await _snapshot() == before
    answered = _counts(gql)[1]
    done = await gql.post(
        STEP, {"id": made["id"], "value": 2}, user=None, headers={"x-csrf-token": csrf}
    )
    assert done.json()["data"]["completeStep"]["__typename"] == "StepCompleted"
    assert done.json()["data"]["completeStep"]["event"]["actor"] == "cara"
    assert _counts(gql)[1] == answered + 1


async def test_a_user_who_may_not_run_the_process_is_not_found_directly(gql: Any) -> None:
    made = await _opportunity(gql)
    gql.tokens["sam"] = (await make_user("sam", BaseRole.USER, frozenset({"support"})))[1]
    process = (
        await gql.execute(
            "query($id: ID!) { instance(id: $id) { process { id } } }", {"id": made["id"]}
        )
    )["instance"]["process"]["id"]
    await gql.execute(
        'mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["sales"]) { __typename } }',
        {"id": process},
    )
    await gql.post(STEP, {"id": made["id"], "value": 1})  # planned
    before = await _snapshot()
    answered = _counts(gql)[1]
    refused = (await gql.post(STEP, {"id": made["id"], "value": 2}, user="sam")).json()
    assert refused["data"]["completeStep"] == {
        "__typename": "NotFound",
        "message": f"Instance {made['id']} not found",
        "kind": "Instance",
        "id": made["id"],
    }
    assert _counts(gql)[1] == answered + 1
    assert await _snapshot() == before


async def test_a_commit_whose_outcome_cannot_be_known_is_answered_as_the_executor_does(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _opportunity(gql)
    await gql.post(STEP, {"id": made["id"], "value": 1})  # planned

    async def unknown(*args: Any, **kwargs: Any) -> Any:
        raise OutcomeUnknown()

    monkeypatch.setattr(instances, "complete_step", unknown)
    by_executor = await _full(gql, STEP, {"id": made["id"], "value": 3})
    answered = _counts(gql)[1]
    directly = await gql.post(STEP, {"id": made["id"], "value": 3})
    assert _counts(gql)[1] == answered + 1  # answered: running it again might change twice
    assert directly.status_code == by_executor.status_code == 503
    assert directly.json() == by_executor.json()
    assert directly.json()["errors"][0]["extensions"]["code"] == "OUTCOME_UNKNOWN"
    assert directly.json()["data"] is None


async def test_an_unexpected_error_is_masked_as_the_executor_masks_it(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _opportunity(gql)
    await gql.post(STEP, {"id": made["id"], "value": 1})  # planned

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the event row cannot be written")

    monkeypatch.setattr(store, "write_at_once", broken)
    monkeypatch.setattr(store, "append_event", broken)
    before = await _snapshot()
    by_executor = await _full(gql, STEP, {"id": made["id"], "value": 2})
    answered = _counts(gql)[1]
    directly = await gql.post(STEP, {"id": made["id"], "value": 2})
    assert _counts(gql)[1] == answered + 1  # answered, not run a second time
    assert directly.status_code == by_executor.status_code == 200
    assert directly.json() == by_executor.json()
    assert directly.json()["errors"][0]["message"] == "Unexpected error."
    assert await _snapshot() == before


async def test_fifty_clients_at_once_each_make_one_change(gql: Any) -> None:
    """Directly answered steps on five instances, ten clients each, no expectedVersion:
    no conflict, one version and one event per change."""
    made = [await _opportunity(gql) for _ in range(5)]
    await gql.post(STEP, {"id": made[0]["id"], "value": 0})  # planned
    start = {m["id"]: (await InstanceRow.get(id=int(m["id"]))).version for m in made}
    seq = await EventRow.all().count()
    answered = _counts(gql)[1]

    async def client(n: int) -> dict[str, Any]:
        response = await gql.post(STEP, {"id": made[n % 5]["id"], "value": n})
        return response.json()["data"]["completeStep"]  # type: ignore[no-any-return]

    done = await asyncio.gather(*(client(n) for n in range(50)))
    assert {d["__typename"] for d in done} == {"StepCompleted"}, done
    assert _counts(gql)[1] == answered + 50
    for m in made:
        versions = sorted(d["instance"]["version"] for d in done if d["instance"]["id"] == m["id"])
        assert versions == list(range(start[m["id"]] + 1, start[m["id"]] + 11)), versions
    seqs = [d["event"]["seq"] for d in done]
    assert len(set(seqs)) == 50
    assert await EventRow.all().count() == seq + 50
    for m in made:
        # The record holds the value of its instance's newest change.
        newest = max(
            (d for d in done if d["instance"]["id"] == m["id"]),
            key=lambda d: d["instance"]["version"],
        )
        stored = await EventRow.get(seq=newest["event"]["seq"])
        record = await RecordRow.get(id=int(m["record"]))
        assert record.values["estimated_budget"] == stored.after["values"]["estimated_budget"]


async def test_fifty_clients_with_one_key_make_one_change(gql: Any) -> None:
    made = await _opportunity(gql)
    await gql.post(STEP, {"id": made["id"], "value": 0})  # planned
    events = await EventRow.filter(instance_id=int(made["id"])).count()
    responses = await asyncio.gather(
        *(gql.post(STEP, {"id": made["id"], "value": 8, "key": "once"}) for _ in range(50))
    )
    done = [r.json()["data"]["completeStep"] for r in responses]
    assert {d["__typename"] for d in done} == {"StepCompleted"}, done
    assert len({d["event"]["seq"] for d in done}) == 1
    assert await EventRow.filter(instance_id=int(made["id"])).count() == events + 1


def test_off_runs_every_change_in_full() -> None:
    from server.settings import Settings

    assert Settings.from_env({}).direct_changes
    assert not Settings.from_env({"STAGEFLOW_DIRECT_CHANGES": "0"}).direct_changes


PLANNED = [
    STEP,
    STEP_INPUT,
    ADVANCE,
    FINISH,
    UPDATE,
    CREATE,
    "mutation { abandonInstance(input: {instanceId: 1}) { __typename } }",
    'mutation M { completeStep(input: {instanceId: 1, field: "f", value: 1}) { ... on StepCompleted { event { seq } } } }',
]
IN_FULL = [
    # A field with a resolver of its own.
    'mutation { completeStep(input: {instanceId: 1, field: "f", value: 1}) { ... on StepCompleted { instance { stages { state } } } } }',
    'mutation { completeStep(input: {instanceId: 1, field: "f", value: 1}) { ... on StepCompleted { event { before } } } }',
    'mutation { completeStep(input: {instanceId: 1, field: "f", value: 1}) { ... on StepCompleted { instance { record { id } } } } }',
    'mutation { finishInstance(input: {instanceId: 1, outcome: "won"}) { ... on InstanceFinished { instance { outcome { key label } } } } }',
    # A fragment spread by name, a directive, a key used twice, two root fields.
    "mutation { abandonInstance(input: {instanceId: 1}) { ...F } } fragment F on InstanceAbandoned { event { seq } }",
    "mutation($x: Boolean!) { abandonInstance(input: {instanceId: 1}) { __typename @include(if: $x) } }",
    "mutation { abandonInstance(input: {instanceId: 1}) { ... on InstanceAbandoned { event { seq } } ... on InstanceChange { event { kind } } } }",
    "mutation { a: abandonInstance(input: {instanceId: 1}) { __typename } b: abandonInstance(input: {instanceId: 2}) { __typename } }",
    # Not a change to records and instances; not a mutation.
    'mutation { signIn(input: {name: "a", password: "b"}) { __typename } }',
    "query { instance(id: 1) { id } }",
    "mutation A { abandonInstance(input: {instanceId: 1}) { __typename } } mutation B { abandonInstance(input: {instanceId: 2}) { __typename } }",
]


@pytest.mark.parametrize("document", PLANNED)
def test_a_change_answered_by_its_own_values_is_planned(document: str) -> None:
    name = "M" if "mutation M" in document else None
    assert plan_of(schema._schema, document, name) is not None


@pytest.mark.parametrize("document", IN_FULL)
def test_any_other_document_runs_in_full(document: str) -> None:
    assert plan_of(schema._schema, document, None) is None


async def test_metrics_count_what_was_answered_directly(gql: Any) -> None:
    made = await _opportunity(gql)
    for value in range(3):
        await gql.post(STEP, {"id": made["id"], "value": value})
    await gql.post(STEP, {"id": 1.5, "value": 1})
    text = (await gql.http.get("/metrics")).text
    found = dict(re.findall(r'stageflow_direct_changes_total\{outcome="(\w+)"\} (\d+)', text))
    assert found == {"answered": "2", "declined": "1"}
    planned = gql.app.state.graphql.direct.counts.planned
    assert planned >= 1 and f"stageflow_direct_plans {planned}\n" in text
