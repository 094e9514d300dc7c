"""A board lane is the records list filtered by the shown instance's process, stage and
status; a lane with few records is found from its instances, not by walking every record:
the index on a record's shown instance, and on PostgreSQL statistics on how process, stage
and status go together (migration 0010)."""

from __future__ import annotations

from typing import Any

from documents import CREATE_RECORD, START
from tortoise.connection import get_connection

LANE = """query($process: ID!, $stage: String!) {
  records(processId: $process, stage: $stage, status: ACTIVE, first: 10) {
    totalCount edges { node { name activeInstance { activeStage { key } } } } } }"""


async def _indexed_columns(table: str) -> set[tuple[str, ...]]:
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT array_agg(a.attname ORDER BY k.n) AS cols FROM pg_index x"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE t.relname = $1 GROUP BY x.indexrelid",
            [table],
        )
        return {tuple(r["cols"]) for r in rows}
    found = set()
    for index in await conn.execute_query_dict(f"PRAGMA index_list('{table}')"):
        info = await conn.execute_query_dict(f"PRAGMA index_info('{index['name']}')")
        found.add(tuple(c["name"] for c in sorted(info, key=lambda c: c["seqno"])))
    return found


async def test_a_lane_with_few_records_is_found_from_its_instances(gql: Any) -> None:
    assert ("active_instance_id",) in await _indexed_columns("record")
    conn = get_connection("default")
    if conn.capabilities.dialect != "postgres":
        return  # SQLite plans from its own sqlite_stat tables
    rows = await conn.execute_query_dict(
        "SELECT CAST(s.stxkind AS TEXT[]) AS stxkind, array_agg(a.attname ORDER BY a.attname) AS cols"
        " FROM pg_statistic_ext s JOIN pg_class t ON t.oid = s.stxrelid"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (s.stxkeys)"
        " WHERE t.relname = 'instance' GROUP BY s.oid, s.stxkind"
    )
    kinds = {tuple(r["cols"]): set(r["stxkind"]) for r in rows}
    assert {"m", "d"} <= kinds[("active_stage", "process_id", "status")]


async def test_an_empty_lane_and_a_lane_of_one_are_counted_and_listed(gql: Any) -> None:
    processes = {
        p["key"]: p["id"] for p in (await gql.execute("{ processes { id key } }"))["processes"]
    }
    sales = processes["opportunity-sales"]
    created = await gql.execute(
        CREATE_RECORD, {"input": {"entity": "opportunity", "name": "Lane - 1", "values": {}}}
    )
    record = created["createRecord"]["record"]["id"]
    await gql.execute(START, {"input": {"recordId": record, "processId": sales}})
    qualify = (await gql.execute(LANE, {"process": sales, "stage": "qualify"}))["records"]
    assert qualify["totalCount"] == 1
    assert [e["node"]["name"] for e in qualify["edges"]] == ["Lane - 1"]
    close = (await gql.execute(LANE, {"process": sales, "stage": "close"}))["records"]
    assert close == {"totalCount": 0, "edges": []}
