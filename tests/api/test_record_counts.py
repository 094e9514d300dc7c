"""The totalCount of the records list under a filter on the shown instance, and of the
instances list, comes from counts triggers keep (`shown_count`, `instance_count`): after
every kind of change they equal a count over every record and instance, and each totalCount
equals the items its pages list, for an admin and for a user who sees fewer processes."""

from __future__ import annotations

import importlib
from typing import Any

from documents import ABANDON, ADVANCE, COMPLETE_STEP, CREATE_RECORD, MOVE_TO, REACTIVATE, START
from making import every_page
from tortoise.connection import get_connection
from users import make_user

from server.db.migrations import __name__ as _migrations
from server.domain.access import BaseRole

shown_counts = importlib.import_module(f"{_migrations}.0007_shown_counts")

LIST = """query($entity: String, $process: ID, $stage: String, $status: InstanceStatus,
               $after: String) {
  records(entity: $entity, processId: $process, stage: $stage, status: $status, first: 7,
          after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
SWITCH = """mutation($input: SwitchProcessInput!) { switchProcess(input: $input) { __typename } }"""
BUCKETS = 'SELECT "entity_id", "process_id", "active_stage", "status", "n" FROM "shown_count"'
INSTANCES = """query($process: ID, $stage: String, $status: InstanceStatus, $after: String) {
  instances(processId: $process, stage: $stage, status: $status, first: 7, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
INSTANCE_BUCKETS = 'SELECT "process_id", "active_stage", "status", "n" FROM "instance_count"'
INSTANCES_COUNTED = (
    'SELECT "process_id", "active_stage", "status", COUNT(*) AS "n" FROM "instance"'
    ' GROUP BY "process_id", "active_stage", "status"'
)
COUNTED = (
    'SELECT r."entity_id", i."process_id", i."active_stage", i."status", COUNT(*) AS "n"'
    ' FROM "record" r JOIN "instance" i ON i."id" = r."active_instance_id"'
    ' GROUP BY r."entity_id", i."process_id", i."active_stage", i."status"'
)


async def _rows(sql: str) -> set[tuple[Any, ...]]:
    rows = await get_connection("default").execute_query_dict(sql)
    return {tuple(int(v) if k in ("n", "process_id") else v for k, v in r.items()) for r in rows}


async def _check(gql: Any, processes: dict[str, str]) -> None:
    kept = {row for row in await _rows(BUCKETS) if row[-1] != 0}
    assert kept == await _rows(COUNTED)
    kept = {row for row in await _rows(INSTANCE_BUCKETS) if row[-1] != 0}
    assert kept == await _rows(INSTANCES_COUNTED)
    filters: list[dict[str, Any]] = [{"status": s} for s in ("ACTIVE", "ABANDONED", "FINISHED")]
    for key, pid in processes.items():
        filters.append({"process": pid})
        filters.append({"process": pid, "status": "ACTIVE", "entity": "opportunity"})
        stages = ("qualify", "develop", "propose") if key == "opportunity-sales" else ("qualify",)
        filters += [{"process": pid, "stage": stage} for stage in stages]
    filters.append({"entity": "case", "status": "ACTIVE"})
    for user in ("demo", "seller"):
        for variables in filters:
            for document, field in ((LIST, "records"), (INSTANCES, "instances")):
                if field == "instances":
                    variables = {k: v for k, v in variables.items() if k != "entity"}
                pages = await _pages(gql, user, document, field, variables)
                listed = [e["node"]["id"] for page in pages for e in page["edges"]]
                assert len(set(listed)) == len(listed)
                assert {page["totalCount"] for page in pages} == {len(listed)}, (
                    user,
                    field,
                    variables,
                )


async def _pages(
    gql: Any, user: str, document: str, field: str, variables: dict[str, Any]
) -> list[Any]:
    if user == "demo":
        return await every_page(gql, document, field, **variables)
    pages, after = [], None
    while True:
        answer = (await gql.post(document, {**variables, "after": after}, user=user)).json()
        assert "errors" not in answer, answer
        page = answer["data"][field]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def _record(gql: Any, entity: str, name: str) -> str:
    made = await gql.execute(
        CREATE_RECORD, {"input": {"entity": entity, "name": name, "values": {}}}
    )
    return made["createRecord"]["record"]["id"]  # type: ignore[no-any-return]


async def _start(gql: Any, record: str, process: str | None = None) -> str:
    started = await gql.execute(START, {"input": {"recordId": record, "processId": process}})
    return started["startInstance"]["instance"]["id"]  # type: ignore[no-any-return]


async def _do(gql: Any, document: str, name: str, **input: Any) -> None:
    done = await gql.execute(document, {"input": input})
    assert done[name]["__typename"] not in {"NotFound", "InvalidValue", "InvalidTransition"}, done


async def _advance(gql: Any, iid: str, steps: dict[str, Any]) -> None:
    for field, value in steps.items():
        await _do(gql, COMPLETE_STEP, "completeStep", instanceId=iid, field=field, value=value)
    await _do(gql, ADVANCE, "advanceStage", instanceId=iid)


QUALIFY = {"estimated_budget": 5000, "decision_maker_identified": True}


async def test_counts_follow_every_change_that_moves_a_shown_instance(gql: Any) -> None:
    listed = await gql.execute("{ processes { id key } }")
    processes = {p["key"]: p["id"] for p in listed["processes"]}
    # A seller sees only what every signed-in user may run; the case processes are closed.
    gql.tokens["seller"] = (await make_user("seller", BaseRole.USER))[1]
    for key in ("phone-to-case", "warranty-claim"):
        roles = await gql.execute(
            'mutation($id: ID!) { setProcessRoles(processId: $id, roles: ["support"]) {'
            " __typename } }",
            {"id": processes[key]},
        )
        assert roles["setProcessRoles"]["__typename"] == "ProcessRolesSet"

    deals = [await _record(gql, "opportunity", f"Deal {n}") for n in range(8)]
    cases = [await _record(gql, "case", f"Case {n}") for n in range(3)]
    runs = [await _start(gql, record) for record in deals[:6]]
    for record in cases:
        await _start(gql, record, processes["phone-to-case"])
    await _check(gql, processes)

    for iid in runs[:3]:
        await _advance(gql, iid, QUALIFY)
    await _advance(gql, runs[0], {"customer_need": "a faster close"})
    await _check(gql, processes)

    await _do(gql, MOVE_TO, "moveToStage", instanceId=runs[0], stage="qualify")
    await _do(gql, ABANDON, "abandonInstance", instanceId=runs[3])
    await _do(gql, ABANDON, "abandonInstance", instanceId=runs[4])
    await _do(gql, REACTIVATE, "reactivateInstance", instanceId=runs[4])
    await _check(gql, processes)

    # A switch shows another instance; switching back shows the first again, as it was.
    enterprise = processes["enterprise-deal"]
    await _do(gql, SWITCH, "switchProcess", recordId=deals[1], processId=enterprise)
    await _do(gql, SWITCH, "switchProcess", recordId=deals[2], processId=enterprise)
    await _check(gql, processes)
    await _do(
        gql, SWITCH, "switchProcess", recordId=deals[2], processId=processes["opportunity-sales"]
    )
    await _start(gql, deals[6], enterprise)
    await _check(gql, processes)

    # A database migrated with records already there starts from the same counts.
    conn = get_connection("default")
    for sql in shown_counts.RECOUNT:
        await conn.execute_script(sql)
    await _check(gql, processes)


async def test_a_filtered_count_reads_the_buckets_not_the_records(
    gql: Any, count_queries: Any
) -> None:
    record = await _record(gql, "opportunity", "Counted")
    await _start(gql, record)
    variables = {"entity": "opportunity", "stage": "qualify", "status": "ACTIVE"}
    with count_queries() as statements:
        answer = await gql.execute(LIST, variables)
    assert answer["records"]["totalCount"] == 1
    counts = [s for s in statements if "COUNT(" in s.upper() or "SUM(" in s.upper()]
    assert len(counts) == 1 and "shown_count" in counts[0], statements
