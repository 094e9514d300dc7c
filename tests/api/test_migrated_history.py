"""A record whose instance was migrated to a version without some of its stages still opens.

Stays in stages the current version no longer has are shown as the stage was in the
version the stay happened in; every field of the instance and of its record answers.
"""

from __future__ import annotations

import copy
from typing import Any

from documents import ADVANCE, CREATE_RECORD, MOVE_TO, START
from graphql import FieldNode, GraphQLObjectType, OperationDefinitionNode, parse

from server.api.schema import schema

STAGE = (
    "key name entity category guidance isLast next due dueBusinessDays"
    " steps { required field { key } }"
)
# Every field of Instance: the test below checks that none is left out.
INSTANCE_FIELDS = f"""
  id version status processVersion startedAt activeSince completedAt
  outcome {{ key label reasonRequired }} outcomeReason completedBy
  process {{ id key version stages {{ key }} }}
  record {{ id name version }}
  records {{ entity record {{ id }} }}
  stages {{ state stage {{ {STAGE} }} }}
  activeStage {{ {STAGE} }}
  missingSteps {{ required field {{ key }} }}
  nextStage {{ key name }}
  canAdvance canFinish dueAt overdue
  path {{ key name }}
  history {{ stage {{ {STAGE} }} enteredAt exitedAt enteredBy durationSeconds dueAt overdueAt }}
  events {{ seq kind fromStage toStage before after instance {{ id }} record {{ id }} }}
"""
RECORD = f"""
query($id: ID!) {{
  record(id: $id) {{
    id entity name owner values version createdAt updatedAt
    activeInstance {{ {INSTANCE_FIELDS} }}
    instances {{ {INSTANCE_FIELDS} }}
  }}
}}
"""
INSTANCE = f"query($id: ID!) {{ instance(id: $id) {{ {INSTANCE_FIELDS} }} }}"
INSTANCES = f"""
query($p: ID!) {{ instances(processId: $p, first: 10) {{ edges {{ node {{ {INSTANCE_FIELDS} }} }} }} }}
"""
DESIGN = "query($id: ID!) { design(processId: $id) { definition version } }"
UPDATE = """
mutation($input: UpdateProcessInput!) { updateProcess(input: $input) { __typename } }
"""
PUBLISH = "mutation($input: DraftInput!) { publishProcess(input: $input) { __typename } }"
MIGRATE = """
mutation($input: MigrateInstancesInput!) { migrateInstances(input: $input) { __typename
  ... on InstancesMigrated { instances { fromStage toStage instance { id history { stage { key name } } } } }
  ... on InvalidMigration { problems { path message } } } }
"""
SIMPLE = """
mutation($input: InstanceInput!) { %s(input: $input) { __typename } }
"""
READY = {"estimated_budget": 100, "decision_maker_identified": True}


def _steady(instance: dict[str, Any]) -> dict[str, Any]:
    """The instance without the time spent in the open stay, which grows between reads."""
    history = [
        {k: v for k, v in visit.items() if k != "durationSeconds"} for visit in instance["history"]
    ]
    return {**instance, "history": history}


async def _sales(gql: Any) -> str:
    found = await gql.execute("{ processes { id key } }")
    return next(p["id"] for p in found["processes"] if p["key"] == "opportunity-sales")


async def _run(gql: Any, pid: str, name: str) -> tuple[str, str]:
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": name, "values": READY}}
    )
    record_id = created["createRecord"]["record"]["id"]
    started = await gql.execute(START, {"input": {"recordId": record_id, "processId": pid}})
    return record_id, started["startInstance"]["instance"]["id"]


async def _ok(gql: Any, document: str, input: dict[str, Any], typename: str) -> None:
    name = document.split("{", 2)[1].split("(")[0].strip()
    done = await gql.execute(document, {"input": input})
    assert done[name]["__typename"] == typename, done


async def _publish_renamed(gql: Any, pid: str) -> None:
    """Version 2: `develop` becomes `build`, named Build."""
    definition = copy.deepcopy((await gql.execute(DESIGN, {"id": pid}))["design"]["definition"])
    for stage in definition["stages"]:
        if stage["key"] == "develop":
            stage["key"], stage["name"] = "build", "Build"
        if stage.get("next") == "develop":
            stage["next"] = "build"
    await _ok(gql, UPDATE, {"processId": pid, "definition": definition}, "ProcessDraftSaved")
    await _ok(gql, PUBLISH, {"processId": pid}, "ProcessPublished")


def test_the_documents_read_every_field_of_an_instance_and_record() -> None:
    for type_name, document in (("Instance", INSTANCE), ("Record", RECORD)):
        declared = schema._schema.type_map[type_name]
        assert isinstance(declared, GraphQLObjectType)
        operation = parse(document).definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        top = operation.selection_set.selections[0]
        assert isinstance(top, FieldNode) and top.selection_set is not None
        read = {s.name.value for s in top.selection_set.selections if isinstance(s, FieldNode)}
        assert read == set(declared.fields), type_name


async def test_a_migrated_instance_shows_its_stays_in_stages_renamed_since(gql: Any) -> None:
    pid = await _sales(gql)
    # Staying in develop, having been there twice.
    record_id, staying = await _run(gql, pid, "Contoso")
    await _ok(gql, ADVANCE, {"instanceId": staying}, "StageAdvanced")
    await _ok(gql, MOVE_TO, {"instanceId": staying, "stage": "qualify"}, "StageMoved")
    await _ok(gql, ADVANCE, {"instanceId": staying}, "StageAdvanced")
    # Abandoned in develop: migrated without a new stay.
    _, abandoned = await _run(gql, pid, "Fabrikam")
    await _ok(gql, ADVANCE, {"instanceId": abandoned}, "StageAdvanced")
    await _ok(gql, SIMPLE % "abandonInstance", {"instanceId": abandoned}, "InstanceAbandoned")
    # Still in qualify: nothing renamed concerns it.
    _, early = await _run(gql, pid, "Litware")

    await _publish_renamed(gql, pid)
    migrated = await gql.execute(
        MIGRATE,
        {
            "input": {
                "processId": pid,
                "fromVersion": 1,
                "toVersion": 2,
                "dryRun": False,
                "stageMapping": [{"from": "develop", "to": "build"}],
            }
        },
    )
    assert migrated["migrateInstances"]["__typename"] == "InstancesMigrated", migrated
    moves = {i["instance"]["id"]: i for i in migrated["migrateInstances"]["instances"]}
    assert (moves[staying]["fromStage"], moves[staying]["toStage"]) == ("develop", "build")

    answer = await gql.post(RECORD, {"id": record_id})
    body = answer.json()
    assert "errors" not in body, body["errors"]
    record = body["data"]["record"]
    instance = record["activeInstance"]
    assert instance is not None and instance["id"] == staying
    assert [_steady(i) for i in record["instances"]] == [_steady(instance)]
    assert instance["processVersion"] == 2 and instance["status"] == "ACTIVE"
    assert instance["process"]["version"] == 2
    assert [s["key"] for s in instance["process"]["stages"]] == [
        "qualify",
        "build",
        "propose",
        "close",
    ]
    assert instance["activeStage"]["key"] == "build"
    assert instance["activeStage"]["name"] == "Build"
    assert [p["key"] for p in instance["path"]] == ["qualify", "build"]
    assert [(s["stage"]["key"], s["state"]) for s in instance["stages"]] == [
        ("qualify", "DONE"),
        ("build", "ACTIVE"),
        ("propose", "UPCOMING"),
        ("close", "UPCOMING"),
    ]
    assert instance["nextStage"]["key"] == "propose"
    assert [m["field"]["key"] for m in instance["missingSteps"]] == ["customer_need"]
    assert instance["canAdvance"] is False and instance["canFinish"] is False
    history = instance["history"]
    assert [(v["stage"]["key"], v["stage"]["name"]) for v in history] == [
        ("qualify", "Qualify"),
        ("develop", "Develop"),
        ("qualify", "Qualify"),
        ("develop", "Develop"),
        ("build", "Build"),
    ]
    old = history[1]["stage"]
    assert old["category"] == "DEVELOP" and old["next"] == "propose"
    assert next(s["field"]["key"] for s in old["steps"]) == "customer_need"
    assert [v["exitedAt"] is None for v in history] == [False, False, False, False, True]
    assert all(v["durationSeconds"] >= 0 for v in history)
    assert history[3]["exitedAt"] == history[4]["enteredAt"]
    kinds = [e["kind"] for e in instance["events"]]
    assert kinds == [
        "INSTANCE_STARTED",
        "STAGE_ADVANCED",
        "STAGE_MOVED_BACK",
        "STAGE_ADVANCED",
        "INSTANCE_MIGRATED",
    ]
    assert instance["events"][-1]["fromStage"] == "develop"
    assert instance["events"][-1]["toStage"] == "build"
    assert all(e["instance"]["id"] == staying for e in instance["events"])

    # The same instance read on its own and in a list answers the same.
    alone = await gql.execute(INSTANCE, {"id": staying})
    assert _steady(alone["instance"]) == _steady(instance)
    listed = await gql.execute(INSTANCES, {"p": pid})
    nodes = {e["node"]["id"]: e["node"] for e in listed["instances"]["edges"]}
    assert set(nodes) == {staying, abandoned, early}
    assert _steady(nodes[staying]) == _steady(instance)

    gone = nodes[abandoned]
    assert gone["status"] == "ABANDONED" and gone["activeStage"]["key"] == "build"
    assert [(v["stage"]["key"], v["stage"]["name"]) for v in gone["history"]] == [
        ("qualify", "Qualify"),
        ("develop", "Develop"),
    ]
    assert [p["key"] for p in gone["path"]] == ["qualify", "build"]
    assert [v["stage"]["key"] for v in nodes[early]["history"]] == ["qualify"]

    # Reactivated, the abandoned one stays in build under the new version.
    await _ok(gql, SIMPLE % "reactivateInstance", {"instanceId": abandoned}, "InstanceReactivated")
    back = (await gql.execute(INSTANCE, {"id": abandoned}))["instance"]
    assert [(v["stage"]["key"], v["stage"]["name"]) for v in back["history"]] == [
        ("qualify", "Qualify"),
        ("develop", "Develop"),
        ("build", "Build"),
    ]

    # Back to version 1: the stays in build are shown as version 2 had them.
    again = await gql.execute(
        MIGRATE,
        {
            "input": {
                "processId": pid,
                "fromVersion": 2,
                "toVersion": 1,
                "dryRun": False,
                "stageMapping": [{"from": "build", "to": "develop"}],
            }
        },
    )
    assert again["migrateInstances"]["__typename"] == "InstancesMigrated", again
    returned = (await gql.execute(INSTANCE, {"id": staying}))["instance"]
    assert returned["processVersion"] == 1
    assert [(v["stage"]["key"], v["stage"]["name"]) for v in returned["history"]] == [
        ("qualify", "Qualify"),
        ("develop", "Develop"),
        ("qualify", "Qualify"),
        ("develop", "Develop"),
        ("build", "Build"),
        ("develop", "Develop"),
    ]
    assert [p["key"] for p in returned["path"]] == ["qualify", "develop"]
