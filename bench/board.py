"""The board's first screen on PostgreSQL with a million instances.

Seeds a fresh database through bench/seed.py (template rows made by Stageflow, copied with
`generate_series`): `--copies` records, each with one instance; on Opportunity Sales 20% in
Qualify, 20% in Develop, 10% in Propose, 10% in Close; on Enterprise Deal 10% in Qualify,
10% in Develop, one in 2,000 of those moved on to Business Case (a lane of few records, spread
over the table) and none in its last three stages (lanes that must be found empty). Then:

- serves it with `stageflow serve` and sends the web app's board document (as
  web/board-lanes.js writes it: every lane's first cards and exact count, and the process's
  total) for each process, `--requests` times in interleaved rounds; prints the medians;
- runs EXPLAIN ANALYZE on each lane's page and count statements (server/db/listing.py) and
  prints their plans' root and execution time;
- checks every lane's count against a COUNT(*) over the rows.

Run: `.venv/bin/python -m bench.board [--copies 1000000] [--rounds 5] [--requests 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from tortoise import Tortoise

from bench import seed, servers
from bench.run import _admin, _database_url
from server.db.config import tortoise_config
from server.db.listing import record_statements
from server.db.store import InstanceFilter
from server.domain.instance import InstanceStatus

FIRST = 10  # web/board-lanes.js: FIRST

CARD = """id name owner values
  activeInstance {
    id version status activeSince canAdvance canFinish process { id }
    activeStage { key name isLast }
    nextStage { key name }
    path { key name }
    missingSteps { field { key label } }
  }"""
LANE = f"totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {CARD} }} }}"
PROCESS = """query($id: ID!) { process(id: $id) { id name stages { key name } } }"""


def board_document(stages: list[str]) -> tuple[str, dict[str, Any]]:
    """The board's first request for a process with these stage keys, and its variables."""
    variables = "".join(f", $s{i}: String!, $f{i}: Int!" for i in range(len(stages)))
    lanes = "\n  ".join(
        f"l{i}: records(processId: $process, stage: $s{i}, status: ACTIVE, first: $f{i})"
        f" {{ {LANE} }}"
        for i in range(len(stages))
    )
    document = f"""query Board($process: ID!{variables}) {{
  lastEventSeq
  all: records(processId: $process, status: ACTIVE, first: 1) {{ totalCount }}
  {lanes}
}}"""
    values: dict[str, Any] = {}
    for i, key in enumerate(stages):
        values[f"s{i}"] = key
        values[f"f{i}"] = FIRST
    return document, values


async def _post(
    client: httpx.AsyncClient, url: str, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        url + "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    answer: dict[str, Any] = response.json()
    assert response.status_code == 200 and "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


async def _spread(url: str, process_id: int) -> None:
    """One in 2,000 of the process's runs in Develop moved on to Business Case (the count
    triggers follow), and the statistics taken afresh, as autovacuum would."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE instance SET active_stage = 'business_case' WHERE id IN (SELECT id FROM"
            " (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM instance"
            "  WHERE process_id = $1 AND active_stage = 'develop' AND status = 'ACTIVE') s"
            " WHERE n % 2000 = 1)",
            process_id,
        )
        await conn.execute("ANALYZE instance")
    finally:
        await conn.close()


async def _explain(url: str, process_id: int, stages: list[str]) -> list[dict[str, Any]]:
    """Each lane's page and count statements, as the records list writes them, analysed."""
    # The statements name the record's columns as Tortoise knows them once started.
    await Tortoise.init(config=tortoise_config(url))
    await Tortoise.close_connections()
    conn = await asyncpg.connect(url)
    found = []
    try:
        for stage in stages:
            sql = record_statements(
                postgres=True,
                entity=None,
                search=None,
                owner=None,
                shown=InstanceFilter(process_id, stage, InstanceStatus.ACTIVE),
                first=FIRST,
                after_id=0,
                visible=None,
            )
            row: dict[str, Any] = {"stage": stage}
            for what, text, params in (
                ("page", sql.page, sql.page_params),
                ("count", sql.count, sql.count_params),
            ):
                plan = await conn.fetchval(
                    f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {text}", *params
                )
                plan = json.loads(plan)[0]
                row[f"{what}_ms"] = plan["Execution Time"]
                row[f"{what}_plan"] = _nodes(plan["Plan"])
            row["count"] = int(await conn.fetchval(sql.count, *sql.count_params))
            row["counted"] = int(
                await conn.fetchval(
                    'SELECT COUNT(*) FROM "record" r JOIN "instance" i'
                    ' ON i."id" = r."active_instance_id"'
                    ' WHERE i."process_id" = $1 AND i."active_stage" = $2'
                    " AND i.\"status\" = 'ACTIVE'",
                    process_id,
                    stage,
                )
            )
            found.append(row)
    finally:
        await conn.close()
    return found


def _nodes(plan: dict[str, Any], depth: int = 0) -> str:
    """A plan as one line per node: type, relation or index, rows."""
    label = plan["Node Type"]
    if "Index Name" in plan:
        label += f" using {plan['Index Name']}"
    elif "Relation Name" in plan:
        label += f" on {plan['Relation Name']}"
    lines = [f"{'  ' * depth}{label} (rows {plan.get('Actual Rows')})"]
    for child in plan.get("Plans", []):
        lines.append(_nodes(child, depth + 1))
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="stageflow-bench-board-"))
    name = f"stageflow_bench_board_{uuid.uuid4().hex[:8]}"
    await _admin(args.admin_url, f'CREATE DATABASE "{name}"')
    url = _database_url(args.admin_url, name)
    server = None
    try:
        started = time.monotonic()
        data = await seed.create(url, copies=args.copies)
        await _spread(url, data.enterprise_id)
        print(f"seeded {args.copies:,} records and instances in {time.monotonic() - started:.0f} s")
        server = servers.stageflow(url, folder / "server.log", cpu=args.cpu)
        results: dict[str, Any] = {"copies": args.copies, "processes": {}}
        async with httpx.AsyncClient(timeout=120) as client:
            documents = {}
            for process_id in (data.sales_id, data.enterprise_id):
                found = await _post(client, server.url, data.token, PROCESS, {"id": process_id})
                stages = [s["key"] for s in found["process"]["stages"]]
                query, variables = board_document(stages)
                documents[found["process"]["name"]] = (process_id, stages, query, variables)
            samples: dict[str, list[float]] = {name: [] for name in documents}
            answers: dict[str, dict[str, Any]] = {}
            for label, (process_id, _, query, variables) in documents.items():  # warm up
                answers[label] = await _post(
                    client, server.url, data.token, query, {"process": process_id, **variables}
                )
            for r in range(args.rounds):
                order = list(documents.items())
                order = order[r % len(order) :] + order[: r % len(order)]
                for label, (process_id, _, query, variables) in order:
                    for _ in range(args.requests):
                        start = time.perf_counter()
                        await _post(
                            client,
                            server.url,
                            data.token,
                            query,
                            {"process": process_id, **variables},
                        )
                        samples[label].append((time.perf_counter() - start) * 1000)
        for label, (process_id, stages, _, _) in documents.items():
            lanes = await _explain(url, process_id, stages)
            answer = answers[label]
            for i, lane in enumerate(lanes):
                shown = answer[f"l{i}"]["totalCount"]
                assert shown == lane["counted"] == lane["count"], (label, lane, shown)
            results["processes"][label] = {
                "total": answer["all"]["totalCount"],
                "median_ms": statistics.median(samples[label]),
                "p90_ms": statistics.quantiles(samples[label], n=10)[-1],
                "lanes": lanes,
            }
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            await _admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    _print(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def _print(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nboard, first screen, {results['copies']:,} instances on PostgreSQL")
    print(f"{args.rounds} rounds of {args.requests} requests per process, through the server")
    for label, r in results["processes"].items():
        print(
            f"\n{label}: {r['total']:,} active; median {r['median_ms']:.1f} ms,"
            f" p90 {r['p90_ms']:.1f} ms per board request"
        )
        for lane in r["lanes"]:
            print(
                f"  {lane['stage']:<20} {lane['count']:>9,} records (COUNT(*) {lane['counted']:,})"
                f"  page {lane['page_ms']:.2f} ms  count {lane['count_ms']:.2f} ms"
            )
            for what in ("page", "count"):
                print("    " + lane[f"{what}_plan"].replace("\n", "\n    "))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.board", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--copies", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10, help="per process and round")
    parser.add_argument("--cpu", default=None, help="pin the server to these cores (taskset)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL that may create and drop databases",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
