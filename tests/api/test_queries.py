"""Lists, filters, cursors, and a fixed number of SQL statements however long the list."""

from __future__ import annotations

import asyncio
from typing import Any

from documents import ABANDON, ADVANCE, CREATE_RECORD, START, SWITCH
from making import every_page
from tortoise.connection import get_connection

LIST = """
query($first: Int!, $after: String, $stage: String, $status: InstanceStatus, $process: ID) {
  instances(first: $first, after: $after, stage: $stage, status: $status, processId: $process) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id status activeSince
        activeStage { key name }
        stages { stage { key name steps { field { key label } required } } state }
        missingSteps { field { key } }
        nextStage { key }
        canAdvance
        history { stage { key } durationSeconds }
        process { id name }
        record { id name owner values }
      }
    }
  }
}
"""


async def _opportunities(gql: Any, count: int, *, advanced: int = 0) -> list[str]:
    ids = []
    for i in range(count):
        created = await gql.execute(
            CREATE_RECORD,
            {
                "input": {
                    "entity": "opportunity",
                    "name": f"Deal {i}",
                    "values": {"estimated_budget": 1000 + i, "decision_maker_identified": True},
                }
            },
        )
        record_id = created["createRecord"]["record"]["id"]
        started = await gql.execute(START, {"input": {"recordId": record_id}})
        iid = started["startInstance"]["instance"]["id"]
        if i < advanced:
            await gql.execute(ADVANCE, {"input": {"instanceId": iid}})
        ids.append(iid)
    return ids


async def test_listing_50_instances_costs_the_same_queries_as_listing_1(
    gql: Any, count_queries: Any
) -> None:
    await _opportunities(gql, 50)
    # Warm the cache of process definitions, which are immutable once published.
    await gql.execute(LIST, {"first": 1})

    with count_queries() as one:
        small = await gql.execute(LIST, {"first": 1})
    with count_queries() as fifty:
        large = await gql.execute(LIST, {"first": 50})

    assert len(small["instances"]["edges"]) == 1
    assert len(large["instances"]["edges"]) == 50
    assert all(e["node"]["record"]["name"] for e in large["instances"]["edges"])
    assert len(one) > 0
    assert len(fifty) == len(one), (one, fifty)
    print(f"statements: first=1 -> {len(one)}, first=50 -> {len(fifty)}")


BAR = """query($id: ID!) { instance(id: $id) { version stages { state } activeStage { key }
  missingSteps { field { key } } canAdvance nextStage { key } } }"""


async def test_a_bar_read_is_one_statement_and_a_page_counts_only_when_asked(
    gql: Any, count_queries: Any
) -> None:
    ids = await _opportunities(gql, 3)
    await gql.execute(BAR, {"id": ids[0]})  # credential and process versions kept from here
    with count_queries() as bar:
        assert (await gql.execute(BAR, {"id": ids[0]}))["instance"]["canAdvance"] is True
    assert len(bar) == 1, bar  # the instance with its record

    uncounted = "query { instances(first: 2) { edges { node { id } } } }"
    counted = "query { instances(first: 2) { totalCount edges { node { id } } } }"
    with count_queries() as without:
        await gql.execute(uncounted)
    with count_queries() as with_count:
        assert (await gql.execute(counted))["instances"]["totalCount"] == 3
    assert not any("COUNT(" in s.upper() or "SUM(" in s.upper() for s in without), without
    # The count is a sum over the few rows of its buckets, not a count of instances.
    [summed] = [s for s in with_count if s not in without]
    assert "instance_count" in summed and "COUNT(" not in summed.upper(), with_count


async def test_filters_and_cursor_pagination(gql: Any) -> None:
    ids = await _opportunities(gql, 7, advanced=3)

    develop = await gql.execute(LIST, {"first": 10, "stage": "develop"})
    assert develop["instances"]["totalCount"] == 3
    assert {e["node"]["id"] for e in develop["instances"]["edges"]} == set(ids[:3])

    pages = await every_page(gql, LIST, "instances", first=3, status="ACTIVE")
    assert [e["node"]["id"] for page in pages for e in page["edges"]] == ids
    assert {page["totalCount"] for page in pages} == {7}

    finished = await gql.execute(LIST, {"first": 10, "status": "FINISHED"})
    assert finished["instances"]["totalCount"] == 0

    bad_cursor = await gql.post(LIST, {"first": 3, "after": "bm9wZQ=="})
    assert bad_cursor.json()["errors"][0]["message"].startswith("Cursor")


async def test_records_search_and_entities(gql: Any) -> None:
    await _opportunities(gql, 3)
    data = await gql.execute(
        """{ records(entity: "opportunity", search: "deal 1") { totalCount edges { node { name } } }
             entities { key fields { key type choices } } me { name } }"""
    )
    assert [e["node"]["name"] for e in data["records"]["edges"]] == ["Deal 1"]
    entities = {e["key"]: e for e in data["entities"]}
    assert {"opportunity", "lead", "case"} <= entities.keys()
    timeframe = next(
        f for f in entities["opportunity"]["fields"] if f["key"] == "purchase_timeframe"
    )
    assert timeframe["type"] == "CHOICE" and "This quarter" in timeframe["choices"]
    assert data["me"]["name"] == "demo"


RECORDS = """
query($process: ID, $stage: String, $status: InstanceStatus, $owner: String) {
  records(entity: "opportunity", processId: $process, stage: $stage, status: $status,
          owner: $owner) {
    totalCount edges { node { name activeInstance { process { key } activeStage { key } } } }
  }
}
"""


async def test_records_filter_by_the_instance_their_bar_shows(gql: Any) -> None:
    ids = await _opportunities(gql, 5, advanced=2)
    await gql.execute(ABANDON, {"input": {"instanceId": ids[4]}})
    processes = await gql.execute('{ processes(entity: "opportunity") { id key } }')
    sales, other = (p["id"] for p in processes["processes"][:2])
    # Deal 3 now shows another process; its Opportunity Sales run still sits on qualify.
    record_3 = (
        await gql.execute("query($id: ID!) { instance(id: $id) { record { id } } }", {"id": ids[3]})
    )["instance"]
    await gql.execute(SWITCH, {"input": {"recordId": record_3["record"]["id"], "processId": other}})

    async def names(**filters: Any) -> list[str]:
        found = (await gql.execute(RECORDS, filters))["records"]
        assert found["totalCount"] == len(found["edges"])
        return [edge["node"]["name"] for edge in found["edges"]]

    assert await names(stage="develop") == ["Deal 0", "Deal 1"]
    assert await names(process=sales, stage="qualify") == ["Deal 2", "Deal 4"]
    assert await names(process=sales, stage="qualify", status="ACTIVE") == ["Deal 2"]
    assert await names(status="ABANDONED") == ["Deal 4"]
    assert await names(process=other) == ["Deal 3"]
    assert await names(process=sales, owner="nobody") == []
    assert len(await names()) == 5


async def test_last_event_seq_is_the_newest_event(gql: Any) -> None:
    empty = await gql.execute("{ lastEventSeq }")
    await _opportunities(gql, 2, advanced=1)
    # Two records created, two instances started, one advance.
    data = await gql.execute("{ lastEventSeq events(afterSeq: 0, first: 100) { seq } }")
    assert data["lastEventSeq"] == data["events"][-1]["seq"] == empty["lastEventSeq"] + 5


async def test_the_count_leaves_out_what_the_apps_own_loops_run_meanwhile(
    app: Any, count_queries: Any
) -> None:
    """A task started before the block (as the app's loops are) runs a statement inside it:
    only the block's own statement and its task's are counted."""
    go = asyncio.Event()

    async def background() -> None:
        await go.wait()
        await get_connection("default").execute_query("SELECT 1 AS background")

    loop = asyncio.create_task(background())
    with count_queries() as statements:
        go.set()
        await loop
        await asyncio.create_task(
            get_connection("default").execute_query("SELECT 2 AS started_inside")
        )
        await get_connection("default").execute_query("SELECT 3 AS own")
    assert [s.split(" AS ")[1].split(":")[0] for s in statements] == ["started_inside", "own"]
