"""Databases for the bench: made through Stageflow, then grown by copying its own rows.

A handful of template records and instances are made through Stageflow's services
(records created, instances started, advanced, finished, abandoned, with their events),
so every row is as Stageflow writes it. SQL then copies them `count` times with new
ids, names and owners: records, instances, stage visits and events (numbered on from the
last seq, gap-free), in one INSERT ... SELECT per table on PostgreSQL and SQLite alike.
A few copies are read back through Stageflow and must equal their templates.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise import Tortoise

from server.cli import migrate
from server.db.config import tortoise_config
from server.domain.access import BaseRole
from server.services import accounts, instances, queries, records
from server.services.runtime import Runtime
from server.services.seed import seed as seed_processes
from server.settings import Settings

BENCH_USER = "bench"
SEARCH = "Fabrikam"  # in the names of exactly 100 copies
SEARCHED = 100
OWNERS = 8

_QUALIFIED = {
    "estimated_budget": "250000",
    "purchase_timeframe": "This quarter",
    "purchase_process": "Committee",
    "decision_maker_identified": True,
}
_DEVELOPED = {**_QUALIFIED, "customer_need": "A fleet renewal", "proposed_solution": "Leasing"}
_PROPOSED = {**_DEVELOPED, "develop_proposal": True, "present_proposal": True}
_CLOSED = {**_PROPOSED, "present_final_proposal": True}

# (process key, values, advances, then "finish" / "abandon" / None). Copy n follows
# template n % 10: 30% in develop, 10% finished, 20% on Enterprise Deal.
TEMPLATES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("opportunity-sales", {}, 0, None),
    ("opportunity-sales", {"estimated_budget": "40000"}, 0, None),
    ("opportunity-sales", _QUALIFIED, 1, None),
    ("opportunity-sales", _DEVELOPED, 1, None),
    ("opportunity-sales", _DEVELOPED, 2, None),
    ("opportunity-sales", _PROPOSED, 3, None),
    ("opportunity-sales", _CLOSED, 3, "finish"),
    ("opportunity-sales", _QUALIFIED, 1, "abandon"),
    ("enterprise-deal", {}, 0, None),
    ("enterprise-deal", _QUALIFIED | {"current_situation": "Old fleet"}, 1, None),
]


@dataclass(frozen=True)
class Dataset:
    url: str
    token: str
    copies: int
    sales_id: int
    enterprise_id: int
    # The first copy's record and instance ids; copy n (0-based) has first + n.
    first_record: int
    first_instance: int

    def instances_like(self, template: int, count: int, *, skip: int = 0) -> list[int]:
        """Ids of `count` copies of one template (see TEMPLATES), after the first `skip`."""
        found = [
            self.first_instance + n for n in range(self.copies) if n % len(TEMPLATES) == template
        ]
        assert len(found) >= skip + count, "too few copies for the bench"
        return found[skip : skip + count]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


async def create(url: str, *, copies: int) -> Dataset:
    """A migrated, seeded database at `url` (which must be empty) with `copies` copies."""
    assert copies % len(TEMPLATES) == 0 and copies >= 100, "copies: a multiple of 10, 100 or more"
    await migrate(Settings(database_url=url))
    await Tortoise.init(config=tortoise_config(url))
    try:
        runtime = Runtime.create()
        await seed_processes(runtime)
        user = await accounts.create_user(
            runtime, name=BENCH_USER, password="bench-password", role=BaseRole.USER, by="bench"
        )
        token = (await accounts.create_token(runtime, user, label="bench")).secret
        ids = {
            key: await runtime.catalog.find_key(key)
            for key in ("opportunity-sales", "enterprise-deal")
        }
        made = [await _template(runtime, ids, *t) for t in TEMPLATES]
    finally:
        await Tortoise.close_connections()
    first_record, first_instance = await _copy(url, made, copies)
    dataset = Dataset(
        url=url,
        token=token,
        copies=copies,
        sales_id=ids["opportunity-sales"] or 0,
        enterprise_id=ids["enterprise-deal"] or 0,
        first_record=first_record,
        first_instance=first_instance,
    )
    await _check(dataset, made)
    return dataset


async def _template(
    rt: Runtime,
    ids: dict[str, int | None],
    key: str,
    values: dict[str, Any],
    advances: int,
    end: str | None,
) -> tuple[int, int]:
    created = await records.create_record(
        rt, entity="opportunity", name="Template", owner=BENCH_USER, values=values, by=BENCH_USER
    )
    assert created.record is not None and created.record.id is not None
    started = await instances.start_instance(
        rt, record_id=created.record.id, process_id=ids[key], by=BENCH_USER
    )
    assert started.instance is not None and started.instance.id is not None
    move = {"instance_id": started.instance.id, "expected_version": None, "by": BENCH_USER}
    for _ in range(advances):
        await instances.advance_stage(rt, **move)
    if end == "finish":
        await instances.finish_instance(rt, outcome="won", **move)
    elif end == "abandon":
        await instances.abandon_instance(rt, **move)
    return created.record.id, started.instance.id


def _statements(dialect: str, made: list[tuple[int, int]], copies: int) -> list[str]:
    """The SQL that copies the templates; run after `_bases` has filled in the bases."""
    k = len(made)
    step = copies // SEARCHED
    values = ", ".join(f"({i}, {r}, {n})" for i, (r, n) in enumerate(made))
    if dialect == "postgres":
        series = f"SELECT n FROM generate_series(0, {copies - 1}) AS s(n)"
        created_after = "jsonb_set(jsonb_set(e.after, '{name}', to_jsonb(c.name)), '{owner}', to_jsonb(c.owner))"
    else:
        series = f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {copies - 1}) SELECT n FROM s"
        created_after = "json_set(e.after, '$.name', c.name, '$.owner', c.owner)"
    name = (
        f"CASE WHEN g.n % {step} = {step - 1} THEN '{SEARCH} deal ' ELSE 'Deal ' END || (g.n + 1)"
    )
    return [
        "CREATE TEMPORARY TABLE bench_template (k INTEGER, record_id INTEGER, instance_id INTEGER)",
        f"INSERT INTO bench_template VALUES {values}",
        "CREATE TEMPORARY TABLE bench_copy (n INTEGER PRIMARY KEY, k INTEGER, record_id INTEGER,"
        " instance_id INTEGER, name VARCHAR(200), owner VARCHAR(200))",
        "INSERT INTO bench_copy SELECT g.n, t.k, {record_base} + g.n, {instance_base} + g.n,"
        f" {name}, 'user' || (g.n % {OWNERS}) FROM ({series}) AS g"
        f" JOIN bench_template t ON t.k = g.n % {k}",
        # Events of one cycle of templates, numbered from 1 in template order.
        "CREATE TEMPORARY TABLE bench_event (k INTEGER, seq BIGINT, rank INTEGER)",
        "INSERT INTO bench_event SELECT t.k, e.seq,"
        " ROW_NUMBER() OVER (ORDER BY t.k, e.seq) FROM event e"
        " JOIN bench_template t ON e.record_id = t.record_id",
        'INSERT INTO record (id, entity_id, name, owner, "values", version, active_instance_id,'
        " created_at, updated_at) SELECT c.record_id, r.entity_id, c.name, c.owner,"
        ' r."values", r.version, c.instance_id, r.created_at, r.updated_at'
        " FROM bench_copy c JOIN bench_template t ON t.k = c.k JOIN record r ON r.id = t.record_id",
        "INSERT INTO instance (id, record_id, process_id, process_version, status, active_stage,"
        " path, version, started_at, active_since, completed_at, due_at) SELECT c.instance_id,"
        " c.record_id, i.process_id, i.process_version, i.status, i.active_stage, i.path,"
        " i.version, i.started_at, i.active_since, i.completed_at, i.due_at FROM bench_copy c"
        " JOIN bench_template t ON t.k = c.k JOIN instance i ON i.id = t.instance_id",
        "INSERT INTO stage_visit (instance_id, n, stage, entered_at, exited_at, entered_by,"
        " due_at, overdue_at) SELECT c.instance_id, v.n, v.stage, v.entered_at, v.exited_at,"
        " v.entered_by, v.due_at, v.overdue_at"
        " FROM bench_copy c JOIN bench_template t ON t.k = c.k"
        " JOIN stage_visit v ON v.instance_id = t.instance_id",
        "INSERT INTO event (seq, kind, actor, at, record_id, instance_id, process_id, from_stage,"
        " to_stage, before, after) SELECT {seq_base} + (c.n / {k}) * {cycle} + b.rank,"
        " e.kind, e.actor, e.at, c.record_id,"
        " CASE WHEN e.instance_id IS NULL THEN NULL ELSE c.instance_id END,"
        " e.process_id, e.from_stage, e.to_stage, e.before,"
        f" CASE WHEN e.kind = 'RECORD_CREATED' THEN {created_after} ELSE e.after END"
        " FROM bench_copy c JOIN bench_event b ON b.k = c.k JOIN event e ON e.seq = b.seq",
        "UPDATE counter SET value = {seq_base} + {copies_over_k} * {cycle} WHERE name = 'event'",
        "DROP TABLE bench_copy",
        "DROP TABLE bench_event",
        "DROP TABLE bench_template",
    ]


def _fill(sql: str, bases: dict[str, int]) -> str:
    for key, value in bases.items():
        sql = sql.replace("{" + key + "}", str(value))
    return sql


_BASES = {
    "record_base": "SELECT COALESCE(MAX(id), 0) + 1 FROM record",
    "instance_base": "SELECT COALESCE(MAX(id), 0) + 1 FROM instance",
    "seq_base": "SELECT COALESCE(MAX(seq), 0) FROM event",
    "cycle": "SELECT COUNT(*) FROM event e WHERE e.record_id IN ({ids})",
}


async def _copy(url: str, made: list[tuple[int, int]], copies: int) -> tuple[int, int]:
    """Copy the templates; the first copy's record and instance ids."""
    ids = ", ".join(str(r) for r, _ in made)
    if is_sqlite(url):
        return await asyncio.to_thread(_copy_sqlite, sqlite_path(url), made, copies, ids)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            bases = {
                k: int(await conn.fetchval(q.replace("{ids}", ids))) for k, q in _BASES.items()
            }
            bases |= {"k": len(made), "copies_over_k": copies // len(made)}
            # Triggers off for the copy (each row would rewrite the same few count rows, a
            # version more each time in one transaction), and the counts taken afresh after.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for sql in _statements("postgres", made, copies):
                await conn.execute(_fill(sql, bases))
            await conn.execute("SET LOCAL session_replication_role = origin")
            for sql in _RECOUNT:
                await conn.execute(sql)
            count, last = await conn.fetchrow("SELECT COUNT(*), MAX(seq) FROM event")
            assert count == last, "seqs are gap-free"
            for table in ("record", "instance"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}"
                )
            await conn.execute("SELECT setval('event_seq', MAX(seq)) FROM event")
        # Statistics as autovacuum would have them on a database that grew over time.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return bases["record_base"], bases["instance_base"]


_RECOUNT = importlib.import_module("server.db.migrations.0007_shown_counts").RECOUNT


def _copy_sqlite(path: str, made: list[tuple[int, int]], copies: int, ids: str) -> tuple[int, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        bases = {
            k: int(conn.execute(q.replace("{ids}", ids)).fetchone()[0]) for k, q in _BASES.items()
        }
        bases |= {"k": len(made), "copies_over_k": copies // len(made)}
        for sql in _statements("sqlite", made, copies):
            conn.execute(_fill(sql, bases))
        count, last = conn.execute("SELECT COUNT(*), MAX(seq) FROM event").fetchone()
        assert count == last, "seqs are gap-free"
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return bases["record_base"], bases["instance_base"]


async def _check(dataset: Dataset, made: list[tuple[int, int]]) -> None:
    """Copies read through Stageflow equal their templates, but for ids and names."""
    await Tortoise.init(config=tortoise_config(dataset.url))
    try:
        for n in (0, len(made) - 1, dataset.copies - 1):
            record_id, instance_id = made[n % len(made)]
            template = await queries.get_instance(instance_id)
            copy = await queries.get_instance(dataset.first_instance + n)
            expected = replace(template, id=copy.id, record_id=dataset.first_record + n)
            assert copy == expected, (copy, expected)
            stays = await queries.visits_of([instance_id, copy.id])
            assert stays[copy.id] == stays[instance_id], stays
            original = await queries.get_record(record_id)
            stored = await queries.get_record(dataset.first_record + n)
            assert stored.values == original.values and stored.active_instance_id == copy.id
            trail = await queries.events_after(0, instance_id=copy.id)
            kinds = [e.kind for e in await queries.events_after(0, instance_id=instance_id)]
            assert [e.kind for e in trail] == kinds, (trail, kinds)
        found = await queries.list_records(search=SEARCH.lower(), first=100)
        assert await found.count() == SEARCHED
    finally:
        await Tortoise.close_connections()
