"""Designing processes: drafts, immutable versions, migration, files, order and fields."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from documents import ADVANCE, COMPLETE_STEP, CREATE_RECORD, EVENTS, INSTANCE, RECORD, START, SWITCH

from server.db.models import InstanceRow, ProcessRow, ProcessVersionRow

_PROBLEMS = "... on InvalidDefinition { message problems { path message } }"
_ERRORS = f"""
    ... on Error {{ message }}
    {_PROBLEMS}
    ... on VersionConflict {{ currentVersion expectedVersion }}
    ... on NotFound {{ kind id }}
"""
DRAFT_FIELDS = (
    "processId key name entity status definition version basedOn problems { path message }"
)
CREATE = f"""
mutation($input: CreateProcessInput!) {{ createProcess(input: $input) {{ __typename
  ... on ProcessDraftSaved {{ draft {{ {DRAFT_FIELDS} }} }} {_ERRORS} }} }}
"""
UPDATE = f"""
mutation($input: UpdateProcessInput!) {{ updateProcess(input: $input) {{ __typename
  ... on ProcessDraftSaved {{ draft {{ {DRAFT_FIELDS} }} }} {_ERRORS} }} }}
"""
PUBLISH = f"""
mutation($input: DraftInput!) {{ publishProcess(input: $input) {{ __typename
  ... on ProcessPublished {{ process {{ id version status stages {{ key }} }} }} {_ERRORS} }} }}
"""
PROCESS = """
query($id: ID!) { process(id: $id) { id key version status definition
  stages { key } versions { number publishedBy } draft { version basedOn } } }
"""
EXPORT = "query($id: ID!, $v: Int) { exportProcess(processId: $id, version: $v) }"
MIGRATE = """
mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) { __typename
  ... on InstancesMigrated { dryRun instances { fromStage toStage
      missingSteps { field { key } } instance { id processVersion version activeStage { key } } } }
  ... on InvalidMigration { message problems { path message } }
  ... on NotFound { kind id } } }
"""
IMPORT = f"""
mutation($input: ImportProcessInput!) {{ importProcess(input: $input) {{ __typename
  ... on ProcessImported {{ process {{ id key version }} draft {{ processId version }} }} {_ERRORS} }} }}
"""
DEACTIVATE = "mutation($id: ID!) { deactivateProcess(processId: $id) { __typename ... on ProcessStatusChanged { process { status } } } }"
REORDER = """
mutation($entity: String!, $ids: [ID!]!) { reorderProcesses(entity: $entity, processIds: $ids) {
  __typename ... on ProcessesReordered { processes { key } } ... on InvalidValue { field reason } } }
"""
SAVE_FIELD = """
mutation($input: SaveFieldInput!) { saveField(input: $input) { __typename
  ... on FieldSaved { entity { key fields { key type } } }
  ... on FieldInUse { message entityKey field processes }
  ... on InvalidDefinition { problems { path message } } } }
"""
TEMPLATES = "{ templates { key name entity definition } }"
PROCESSES = '{ processes(entity: "opportunity") { id key status } }'

TWO_STAGES: dict[str, Any] = {
    "key": "quick-sale",
    "name": "Quick Sale",
    "entity": "opportunity",
    "stages": [
        {
            "key": "qualify",
            "name": "Qualify",
            "category": "QUALIFY",
            "steps": [{"field": "estimated_budget", "required": True}],
            "next": "close",
        },
        {"key": "close", "name": "Close", "category": "CLOSE", "steps": []},
    ],
}


async def _published(gql: Any, definition: dict[str, Any]) -> dict[str, Any]:
    draft = (await gql.execute(CREATE, {"input": {"definition": definition}}))["createProcess"]
    assert draft["__typename"] == "ProcessDraftSaved", draft
    pid = draft["draft"]["processId"]
    done = await gql.execute(PUBLISH, {"input": {"processId": pid}})
    assert done["publishProcess"]["__typename"] == "ProcessPublished", done
    return done["publishProcess"]["process"]  # type: ignore[no-any-return]


async def _instance(gql: Any, process_id: str, **values: Any) -> dict[str, Any]:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Deal", "values": values}}
    )
    rid = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": rid, "processId": process_id}})
    return started["startInstance"]["instance"]  # type: ignore[no-any-return]


async def _counts() -> tuple[int, int, int]:
    return (
        await ProcessRow.all().count(),
        await ProcessVersionRow.all().count(),
        await InstanceRow.all().count(),
    )


async def test_a_draft_may_break_rules_and_publishing_lists_every_problem_at_once(gql: Any) -> None:
    broken = copy.deepcopy(TWO_STAGES)
    broken["stages"][0]["steps"].append({"field": "no_such_field", "required": True})
    broken["stages"][0]["next"] = "nowhere"
    broken["stages"][1]["name"] = ""
    draft = (await gql.execute(CREATE, {"input": {"definition": broken}}))["createProcess"]["draft"]
    paths = {p["path"] for p in draft["problems"]}
    assert {"stages[0].steps[1].field", "stages[0].next", "stages[1].name"} <= paths
    assert draft["basedOn"] == 0 and draft["status"] == "DRAFT"
    drafts = (await gql.execute("{ drafts { key version } }"))["drafts"]
    assert drafts == [{"key": "quick-sale", "version": 1}]

    refused = (await gql.execute(PUBLISH, {"input": {"processId": draft["processId"]}}))[
        "publishProcess"
    ]
    assert refused["__typename"] == "InvalidDefinition"
    assert {p["path"] for p in refused["problems"]} == paths
    assert await ProcessVersionRow.filter(process_id=int(draft["processId"])).count() == 0
    # Not offered anywhere until published.
    listed = (await gql.execute(PROCESSES))["processes"]
    assert "quick-sale" not in {p["key"] for p in listed}


async def test_editing_a_published_process_makes_a_draft_and_leaves_the_version_untouched(
    gql: Any,
) -> None:
    process = await _published(gql, TWO_STAGES)
    pid = process["id"]
    before = (await gql.execute(PROCESS, {"id": pid}))["process"]
    edited = copy.deepcopy(TWO_STAGES)
    edited["stages"][0]["name"] = "Qualify the lead"
    saved = (
        await gql.execute(
            UPDATE, {"input": {"processId": pid, "definition": edited, "expectedVersion": 2}}
        )
    )["updateProcess"]
    assert saved["__typename"] == "ProcessDraftSaved", saved
    assert saved["draft"]["basedOn"] == 1 and saved["draft"]["problems"] == []

    after = (await gql.execute(PROCESS, {"id": pid}))["process"]
    assert after["definition"] == before["definition"]
    assert after["version"] == 1 and after["draft"] == {"version": 3, "basedOn": 1}

    stale = (
        await gql.execute(
            UPDATE, {"input": {"processId": pid, "definition": edited, "expectedVersion": 2}}
        )
    )["updateProcess"]
    assert stale["__typename"] == "VersionConflict" and stale["currentVersion"] == 3

    renamed = {**edited, "key": "other-key"}
    refused = (await gql.execute(UPDATE, {"input": {"processId": pid, "definition": renamed}}))[
        "updateProcess"
    ]
    assert refused["__typename"] == "InvalidDefinition"
    assert refused["problems"][0]["path"] == "key"

    published = (await gql.execute(PUBLISH, {"input": {"processId": pid, "expectedVersion": 3}}))[
        "publishProcess"
    ]
    assert published["process"]["version"] == 2
    v1 = (await gql.execute(EXPORT, {"id": pid, "v": 1}))["exportProcess"]
    assert v1 == before["definition"]
    versions = (await gql.execute(PROCESS, {"id": pid}))["process"]["versions"]
    assert [v["number"] for v in versions] == [1, 2]


async def test_instances_stay_on_their_version_until_migrated(gql: Any) -> None:
    process = await _published(gql, TWO_STAGES)
    pid = process["id"]
    running = [await _instance(gql, pid, estimated_budget=n * 100) for n in range(1, 21)]

    v2 = copy.deepcopy(TWO_STAGES)
    v2["stages"].insert(
        1,
        {
            "key": "propose",
            "name": "Propose",
            "category": "PROPOSE",
            "steps": [{"field": "develop_proposal", "required": True}],
            "next": "close",
        },
    )
    v2["stages"][0]["next"] = "propose"
    await gql.execute(UPDATE, {"input": {"processId": pid, "definition": v2}})
    await gql.execute(PUBLISH, {"input": {"processId": pid}})

    # They keep following v1: qualify leads straight to close.
    for instance in running[:5]:
        moved = (await gql.execute(ADVANCE, {"input": {"instanceId": instance["id"]}}))[
            "advanceStage"
        ]
        assert moved["instance"]["processVersion"] == 1
        assert moved["instance"]["activeStage"]["key"] == "close"
    fresh = await _instance(gql, pid, estimated_budget=5)
    assert fresh["processVersion"] == 2
    assert [s["stage"]["key"] for s in fresh["stages"]] == ["qualify", "propose", "close"]

    # A dry run reports and changes nothing; the real run writes one event per instance.
    mapping = {
        "processId": pid,
        "fromVersion": 1,
        "toVersion": 2,
        "stageMapping": [{"from": "close", "to": "propose"}],
    }
    seq_before = (await gql.execute(EVENTS, {"after": 0}))["events"][-1]["seq"]
    dry = (await gql.execute(MIGRATE, {"input": {**mapping, "dryRun": True}}))["migrateInstances"]
    assert dry["__typename"] == "InstancesMigrated" and dry["dryRun"] is True
    assert len(dry["instances"]) == 20
    moved_back = [i for i in dry["instances"] if i["fromStage"] == "close"]
    assert len(moved_back) == 5
    assert {i["toStage"] for i in moved_back} == {"propose"}
    assert {m["field"]["key"] for i in moved_back for m in i["missingSteps"]} == {
        "develop_proposal"
    }
    untouched = (await gql.execute(INSTANCE, {"id": running[0]["id"]}))["instance"]
    assert untouched["processVersion"] == 1 and untouched["activeStage"]["key"] == "close"
    assert (await gql.execute(EVENTS, {"after": seq_before}))["events"] == []

    real = (await gql.execute(MIGRATE, {"input": {**mapping, "dryRun": False}}))["migrateInstances"]
    assert real["dryRun"] is False and len(real["instances"]) == 20
    events = (await gql.execute(EVENTS, {"after": seq_before}))["events"]
    assert [e["kind"] for e in events] == ["INSTANCE_MIGRATED"] * 20
    migrated = (await gql.execute(INSTANCE, {"id": running[0]["id"]}))["instance"]
    assert migrated["processVersion"] == 2 and migrated["activeStage"]["key"] == "propose"
    assert [p["key"] for p in migrated["path"]] == ["qualify", "propose"]
    # And they work on v2: the new stage's gate applies.
    blocked = (await gql.execute(ADVANCE, {"input": {"instanceId": running[0]["id"]}}))[
        "advanceStage"
    ]
    assert blocked["__typename"] == "StageGateBlocked"
    step = {"instanceId": running[0]["id"], "field": "develop_proposal", "value": True}
    await gql.execute(COMPLETE_STEP, {"input": step})
    done = (await gql.execute(ADVANCE, {"input": {"instanceId": running[0]["id"]}}))["advanceStage"]
    assert done["instance"]["activeStage"]["key"] == "close"


async def test_a_mapping_that_strands_instances_is_refused_and_changes_nothing(gql: Any) -> None:
    process = await _published(gql, TWO_STAGES)
    pid = process["id"]
    instance = await _instance(gql, pid, estimated_budget=10)
    v2 = copy.deepcopy(TWO_STAGES)
    v2["stages"][0] = {**v2["stages"][0], "key": "screen", "name": "Screen"}
    await gql.execute(UPDATE, {"input": {"processId": pid, "definition": v2}})
    await gql.execute(PUBLISH, {"input": {"processId": pid}})
    before = await _counts()
    seq = (await gql.execute(EVENTS, {"after": 0}))["events"][-1]["seq"]

    for dry_run in (True, False):
        base = {"processId": pid, "fromVersion": 1, "toVersion": 2, "dryRun": dry_run}
        stranded = (await gql.execute(MIGRATE, {"input": base}))["migrateInstances"]
        assert stranded["__typename"] == "InvalidMigration"
        assert stranded["problems"][0]["path"] == "stageMapping.qualify"
        assert "no stage 'qualify'" in stranded["problems"][0]["message"]
        wrong = {**base, "stageMapping": [{"from": "qualify", "to": "nowhere"}]}
        refused = (await gql.execute(MIGRATE, {"input": wrong}))["migrateInstances"]
        assert refused["problems"] == [
            {"path": "stageMapping[0].to", "message": "version 2 has no stage 'nowhere'"}
        ]

    assert await _counts() == before
    assert (await gql.execute(EVENTS, {"after": seq}))["events"] == []
    kept = (await gql.execute(INSTANCE, {"id": instance["id"]}))["instance"]
    assert kept["processVersion"] == 1 and kept["version"] == instance["version"]

    mapped = {
        "processId": pid,
        "fromVersion": 1,
        "toVersion": 2,
        "dryRun": False,
        "stageMapping": [{"from": "qualify", "to": "screen"}],
    }
    ok = (await gql.execute(MIGRATE, {"input": mapped}))["migrateInstances"]
    assert ok["instances"][0]["instance"]["activeStage"]["key"] == "screen"


async def test_import_validates_first_and_export_gives_the_same_definition_back(gql: Any) -> None:
    templates = (await gql.execute(TEMPLATES))["templates"]
    assert {"opportunity-sales", "phone-to-case"} <= {t["key"] for t in templates}
    for template in templates:
        definition = {**template["definition"], "key": f"copy-{template['key']}"}
        done = (await gql.execute(IMPORT, {"input": {"definition": definition, "publish": True}}))[
            "importProcess"
        ]
        assert done["__typename"] == "ProcessImported", done
        exported = (await gql.execute(EXPORT, {"id": done["process"]["id"]}))["exportProcess"]
        assert exported == definition

    before = await _counts()
    broken = copy.deepcopy(TWO_STAGES)
    broken["stages"][0]["category"] = "SOMETIMES"
    broken["stages"][1]["steps"] = [{"field": "ghost", "required": True}]
    refused = (await gql.execute(IMPORT, {"input": {"definition": broken, "publish": True}}))[
        "importProcess"
    ]
    assert refused["__typename"] == "InvalidDefinition"
    assert {p["path"] for p in refused["problems"]} >= {
        "stages[0].category",
        "stages[1].steps[0].field",
    }
    assert await _counts() == before


async def test_order_and_status_decide_the_default_process(gql: Any) -> None:
    listed = (await gql.execute(PROCESSES))["processes"]
    ids = [p["id"] for p in listed]
    assert len(ids) >= 2
    reordered = (await gql.execute(REORDER, {"entity": "opportunity", "ids": ids[::-1]}))[
        "reorderProcesses"
    ]
    assert [p["key"] for p in reordered["processes"]] == [p["key"] for p in listed[::-1]]
    first = await _instance_default(gql)
    assert first == listed[-1]["key"]

    deactivated = (await gql.execute(DEACTIVATE, {"id": ids[-1]}))["deactivateProcess"]
    assert deactivated["process"]["status"] == "INACTIVE"
    assert await _instance_default(gql) == listed[-2]["key"]
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Late", "values": {}}}
    )
    rid = created["createRecord"]["record"]["id"]
    refused = (await gql.execute(START, {"input": {"recordId": rid, "processId": ids[-1]}}))[
        "startInstance"
    ]
    assert refused["__typename"] == "InvalidTransition"
    assert refused["code"] == "PROCESS_UNAVAILABLE"

    partial = (await gql.execute(REORDER, {"entity": "opportunity", "ids": ids[:1]}))[
        "reorderProcesses"
    ]
    assert partial["__typename"] == "InvalidValue"


async def _instance_default(gql: Any) -> str:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Default", "values": {}}}
    )
    rid = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": rid}})
    return started["startInstance"]["instance"]["process"]["key"]  # type: ignore[no-any-return]


async def test_concurrent_switches_never_leave_two_instances_of_one_process(gql: Any) -> None:
    listed = (await gql.execute(PROCESSES))["processes"]
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Race", "values": {}}}
    )
    rid = created["createRecord"]["record"]["id"]
    await gql.execute(START, {"input": {"recordId": rid, "processId": listed[0]["id"]}})
    other = listed[1]["id"]
    answers = await asyncio.gather(
        *(gql.execute(SWITCH, {"input": {"recordId": rid, "processId": other}}) for _ in range(4))
    )
    kinds = [a["switchProcess"]["__typename"] for a in answers]
    assert "ProcessSwitched" in kinds
    record = (await gql.execute(RECORD, {"id": rid}))["record"]
    keys = [i["process"]["key"] for i in record["instances"]]
    assert sorted(keys) == sorted({listed[0]["key"], listed[1]["key"]})
    assert await InstanceRow.filter(record_id=int(rid), process_id=int(other)).count() == 1


async def test_a_field_type_published_processes_rely_on_cannot_change(gql: Any) -> None:
    change = {"entity": "opportunity", "key": "estimated_budget", "label": "Budget", "type": "TEXT"}
    refused = (await gql.execute(SAVE_FIELD, {"input": change}))["saveField"]
    assert refused["__typename"] == "FieldInUse"
    assert refused["field"] == "estimated_budget"
    assert any(name.startswith("Opportunity Sales v1") for name in refused["processes"])

    fresh = {
        "entity": "opportunity",
        "key": "region",
        "label": "Region",
        "type": "CHOICE",
        "choices": ["EMEA", "APAC"],
    }
    saved = (await gql.execute(SAVE_FIELD, {"input": fresh}))["saveField"]
    assert saved["__typename"] == "FieldSaved"
    assert {"key": "region", "type": "CHOICE"} in saved["entity"]["fields"]
    retyped = (
        await gql.execute(SAVE_FIELD, {"input": {**fresh, "type": "TEXT", "choices": None}})
    )["saveField"]
    assert retyped["__typename"] == "FieldSaved"  # no published process uses it yet
    bad = (await gql.execute(SAVE_FIELD, {"input": {**fresh, "key": "Bad Key"}}))["saveField"]
    assert bad["__typename"] == "InvalidDefinition"


def _broken(change: Any) -> dict[str, Any]:
    definition = copy.deepcopy(TWO_STAGES)
    change(definition)
    return definition


BROKEN_IMPORTS = [
    (lambda d: d.pop("name"), "name", "name is required"),
    (lambda d: d.update(entity="ticket"), "entity", "unknown entity 'ticket'"),
    (lambda d: d.update(key="Not A Key"), "key", "lowercase"),
    (lambda d: d.update(stages=[]), "stages", "at least one stage"),
    (lambda d: d["stages"][0].update(category="LATER"), "stages[0].category", "unknown category"),
    (
        lambda d: d["stages"][0]["steps"].append({"field": "ghost"}),
        "stages[0].steps[1].field",
        "unknown field 'ghost'",
    ),
    (lambda d: d["stages"][0].update(next="nowhere"), "stages[0].next", "unknown stage 'nowhere'"),
    (lambda d: d["stages"][1].update(key="qualify"), "stages[1].key", "duplicate stage key"),
    (
        lambda d: d["stages"][0].update(branches=[{"to": "close"}]),
        "stages[0].branches[0].when",
        "one default",
    ),
    (
        lambda d: d["stages"][0].update(
            branches=[{"to": "close", "when": {"field": "ghost", "op": "eq", "value": 1}}]
        ),
        "stages[0].branches[0].when",
        "unknown field 'ghost'",
    ),
    (lambda d: d["stages"][1].update(next="qualify"), "stages[1]", "cycle"),
    (
        lambda d: d["stages"].append(
            {"key": "lost", "name": "Lost", "category": "CLOSE", "steps": []}
        ),
        "stages[2]",
        "cannot be reached",
    ),
    (lambda d: d["stages"][0].update(name="x" * 101), "stages[0].name", "at most 100 characters"),
    (
        lambda d: d["stages"][0]["steps"][0].update(required="yes"),
        "stages[0].steps[0].required",
        "true or false",
    ),
]


@pytest.mark.parametrize(("change", "path", "fragment"), BROKEN_IMPORTS)
async def test_a_broken_import_names_the_problem_and_writes_nothing(
    gql: Any, change: Any, path: str, fragment: str
) -> None:
    before = await _counts()
    for publish in (False, True):
        refused = (
            await gql.execute(
                IMPORT, {"input": {"definition": _broken(change), "publish": publish}}
            )
        )["importProcess"]
        assert refused["__typename"] == "InvalidDefinition", refused
        found = [p for p in refused["problems"] if p["path"] == path]
        assert found and fragment in found[0]["message"], refused["problems"]
    assert await _counts() == before
