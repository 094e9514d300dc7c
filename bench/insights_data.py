"""A history for the insights bench, written by bulk SQL in the shape Stageflow writes.

`size` instances (and their records) over the two years before `now`: 80 % run
Opportunity Sales, 20 % Enterprise Deal, along each process's chain of `next` stages.
Each instance walks from its first stage: a stay lasts a skewed random time (a few days
on average, longer in later stages), then the instance moves forward, back one or two
stages (a revisit), is abandoned, or, from the last stage, is finished won or lost (with
a reason, often). A stay still running at `now` stays open (the instance is active), and
5 % of instances stall in an early stage for good: 5 to 10 % are active in all, about 5
stays per instance on average. Owners are spread over eight users; most records carry an
amount and a close date.

Randomness is a hash of (instance, step, purpose), so a size gives the same history on
every run. Stays are generated one step at a time (one INSERT ... SELECT per step, about
15), then instances, records and stays are inserted in one statement each: no service
call per row. On PostgreSQL the count tables' triggers are off during the load; on both the
counts are taken afresh after (migration 0007's RECOUNT, the insights' counts per day,
counts per month, times in stage, pipeline rows and sums);
events are not written (insights do not read them).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sqlite3
from dataclasses import dataclass

import asyncpg

from server.db import insight_days, insight_months, pipeline_rows, pipeline_sums, stage_times
from server.domain.process import Process

DAY = 86400
YEARS = 2
OWNERS = 8
MAX_STAYS = 16
# Mean days of a stay, by position along the chain (the last repeats).
MEAN_DAYS = (3, 6, 5, 8, 7, 9)
REASONS = ("Price", "Timing", "Competitor")
_RECOUNT = importlib.import_module("server.db.migrations.0007_shown_counts").RECOUNT


@dataclass(frozen=True)
class Stage:
    pos: int
    key: str
    mean: int  # seconds
    due: int | None  # seconds
    business: bool
    path: str  # the instance's path (JSON) while it stands here


def chain(process: Process) -> list[Stage]:
    """The stages from the first along `next`, as the walk uses them."""
    out: list[Stage] = []
    stage = process.first_stage
    while stage is not None and len(out) < 20:
        due = stage.due
        out.append(
            Stage(
                pos=len(out),
                key=stage.key,
                mean=MEAN_DAYS[min(len(out), len(MEAN_DAYS) - 1)] * DAY,
                due=None if due is None else int(due.length.total_seconds()),
                business=bool(due and due.business_days),
                path=json.dumps([s.key for s in out] + [stage.key]),
            )
        )
        stage = process.stage(stage.next) if stage.next else None
    return out


class _Sql:
    """The few expressions the two databases write differently."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def u(self, a: str, salt: int) -> str:
        """A uniform number in [0, 1) from integer `a` and `salt`."""
        if self.postgres:
            return f"((hashint8(CAST({a} AS BIGINT) * 131 + {salt})::float8 + 2147483648.0) / 4294967296.0)"
        return f"bench_u({a}, {salt})"

    def floor(self, x: str) -> str:
        return f"CAST(FLOOR({x}) AS BIGINT)" if self.postgres else f"CAST({x} AS INTEGER)"

    def time(self, e: str) -> str:
        """Epoch seconds as the database stores a time."""
        if self.postgres:
            return f"to_timestamp({e})"
        return f"(strftime('%Y-%m-%d %H:%M:%S', {e}, 'unixepoch') || '+00:00')"

    def date(self, e: str) -> str:
        if self.postgres:
            return f"to_char(to_timestamp({e}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        return f"date({e}, 'unixepoch')"

    def money(self, cents: str) -> str:
        if self.postgres:
            return f"(({cents}) / 100)::text || '.' || lpad((({cents}) % 100)::text, 2, '0')"
        return f"(({cents}) / 100) || '.' || substr('0' || (({cents}) % 100), -2)"

    def values(self, pairs: list[tuple[str, str]]) -> str:
        """A JSON object of (key, SQL value) pairs, keys with a null value left out."""
        args = ", ".join(f"'{k}', {v}" for k, v in pairs)
        if self.postgres:
            return f"jsonb_strip_nulls(jsonb_build_object({args}))"
        return f"json_patch('{{}}', json_object({args}))"

    def json(self, text: str) -> str:
        return f"CAST({text} AS JSONB)" if self.postgres else text

    def series(self, n: int) -> str:
        if self.postgres:
            return f"SELECT n FROM generate_series(0, {n - 1}) AS s(n)"
        return (
            "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s"
            f" WHERE n < {n - 1}) SELECT n FROM s"
        )


def _due(e: str, d: str, business: str) -> str:
    """When a stay begun at epoch `e` in a stage due after `d` seconds is due (as
    server/domain/due.py counts it: business days run Monday 00:00 to Saturday 00:00)."""
    w = f"((({e}) / {DAY} + 3) % 7)"  # 1970-01-01 was a Thursday; Monday is 0
    monday = (
        f"(CASE WHEN {w} >= 5 THEN ({e}) / {DAY} - {w} + 7 ELSE ({e}) / {DAY} - {w} END) * {DAY}"
    )
    begin = f"(CASE WHEN {w} >= 5 THEN 0 ELSE ({e}) - (({e}) / {DAY} - {w}) * {DAY} END)"
    target = f"({begin} + ({d}))"
    week, days5 = 7 * DAY, 5 * DAY
    counted = (
        f"(CASE WHEN {target} % {days5} = 0 AND {target} / {days5} > 0"
        f" THEN {monday} + ({target} / {days5} - 1) * {week} + {days5}"
        f" ELSE {monday} + ({target} / {days5}) * {week} + {target} % {days5} END)"
    )
    return f"(CASE WHEN ({d}) IS NULL THEN NULL WHEN {business} = 1 THEN {counted} ELSE ({e}) + ({d}) END)"


def statements(
    postgres: bool,
    *,
    size: int,
    now: int,
    processes: list[tuple[Process, float]],
    bases: dict[str, int],
) -> tuple[list[str], list[str]]:
    """(setup, load): the statements that make the history. The walk's steps are in setup
    (temporary tables), the inserts into Stageflow's tables in load."""
    q = _Sql(postgres)
    stages = []
    for process, _ in processes:
        for s in chain(process):
            stages.append(
                f"({process.id}, {s.pos}, '{s.key}', {s.mean},"
                f" {'NULL' if s.due is None else s.due}, {int(s.business)}, '{s.path}')"
            )
    pick, low = [], 0.0
    for process, share in processes:
        pick.append(f"WHEN {q.u('g.n', 1)} < {low + share} THEN {process.id}")
        low += share
    pid = f"CASE {' '.join(pick[:-1])} ELSE {processes[-1][0].id} END"
    age = q.u("g.n", 2)
    u9 = q.u("g.n", 9)
    setup = [
        "CREATE TEMPORARY TABLE bench_stage (pid INTEGER, pos INTEGER, key VARCHAR(64),"
        " mean BIGINT, due BIGINT, business INTEGER, path TEXT, PRIMARY KEY (pid, pos))",
        f"INSERT INTO bench_stage VALUES {', '.join(stages)}",
        "CREATE TEMPORARY TABLE bench_inst AS SELECT"
        f" {bases['instance']} + g.n AS id, {bases['record']} + g.n AS record_id, g.n AS n,"
        f" {pid} AS pid,"
        f" {now} - {q.floor(f'{YEARS * 365 * DAY} * (0.6 * {age} + 0.4 * {age} * {age})')} - 3600 AS start_e,"
        f" CASE WHEN {q.u('g.n', 5)} < 0.05 THEN {q.floor(q.u('g.n', 6) + ' * 3')} ELSE -1 END AS stall,"
        f" 'user' || {q.floor(q.u('g.n', 7) + f' * {OWNERS}')} AS owner,"
        f" CASE WHEN {q.u('g.n', 8)} < 0.9 THEN 100000 + {q.floor(f'{u9} * {u9} * 50000000')} END AS cents,"
        f" CASE WHEN {q.u('g.n', 10)} < 0.85 THEN {q.floor(q.u('g.n', 11) + ' * 120')} + 20 END AS close_days"
        f" FROM ({q.series(size)}) AS g",
        "CREATE TEMPORARY TABLE bench_len AS SELECT pid, COUNT(*) AS stages FROM bench_stage GROUP BY pid",
    ]
    for step in range(MAX_STAYS):
        if step == 0:
            source = (
                "SELECT i.id, 0 AS n, 0 AS pos, i.start_e AS entered, i.stall, i.pid"
                " FROM bench_inst i"
            )
        else:
            source = (
                f"SELECT p.id, {step} AS n, CASE WHEN p.kind = 'forward' THEN p.pos + 1"
                " ELSE p.back END AS pos, p.exited AS entered, p.stall, p.pid"
                f" FROM bench_stay{step - 1} p WHERE p.kind IN ('forward', 'back')"
            )
        key = "x.id * 32 + x.n"
        dur = f"{q.floor(f'st.mean * (0.05 + 2.85 * {q.u(key, 3)} * {q.u(key, 3)})')}"
        x = (
            f"SELECT x.*, st.due AS due_s, st.business, l.stages,"
            f" CASE WHEN x.n = x.stall OR x.entered + {dur} >= {now} THEN NULL"
            f" ELSE x.entered + {dur} END AS exited, {q.u(key, 4)} AS r,"
            f" CASE WHEN x.pos >= 2 AND {q.u(key, 12)} < 0.3 THEN x.pos - 2 ELSE x.pos - 1 END AS back"
            f" FROM ({source}) x JOIN bench_stage st ON st.pid = x.pid AND st.pos = x.pos"
            " JOIN bench_len l ON l.pid = x.pid"
        )
        kind = (
            "CASE WHEN y.exited IS NULL THEN 'open'"
            f" WHEN y.n >= {MAX_STAYS - 1} THEN 'abandon'"
            " WHEN y.pos = y.stages - 1 THEN CASE WHEN y.r < 0.45 THEN 'won'"
            " WHEN y.r < 0.80 THEN 'lost' WHEN y.r < 0.92 THEN 'back' ELSE 'abandon' END"
            " WHEN y.r < 0.07 THEN 'abandon' WHEN y.r < 0.30 AND y.pos > 0 THEN 'back'"
            " ELSE 'forward' END"
        )
        setup.append(
            f"CREATE TEMPORARY TABLE bench_stay{step} AS SELECT y.id, y.n, y.pos, y.entered,"
            f" y.exited, y.stall, y.pid, y.back, y.r, {kind} AS kind,"
            f" {_due('y.entered', 'y.due_s', 'y.business')} AS due_e FROM ({x}) y"
        )
    union = " UNION ALL ".join(f"SELECT * FROM bench_stay{n}" for n in range(MAX_STAYS))
    setup += [
        f"CREATE TEMPORARY TABLE bench_stays AS {union}",
        "CREATE TEMPORARY TABLE bench_last AS SELECT * FROM bench_stays"
        " WHERE kind NOT IN ('forward', 'back')",
    ]
    ended = "l.kind <> 'open'"
    status = (
        "CASE l.kind WHEN 'open' THEN 'ACTIVE' WHEN 'abandon' THEN 'ABANDONED' ELSE 'FINISHED' END"
    )
    reason = (
        f"CASE WHEN l.kind = 'lost' AND {q.u('l.id', 13)} < 0.8 THEN CASE"
        f" {q.floor(q.u('l.id', 14) + ' * 3')}"
        + "".join(f" WHEN {n} THEN '{r}'" for n, r in enumerate(REASONS))
        + " END END"
    )
    gates = "CASE WHEN l.n > 0 OR l.pos > 0 THEN 'true' END"
    values = q.values(
        [
            ("estimated_budget", f"CASE WHEN i.cents IS NOT NULL THEN {q.money('i.cents')} END"),
            (
                "estimated_close_date",
                f"CASE WHEN i.close_days IS NOT NULL THEN"
                f" {q.date(f'i.start_e + i.close_days * {DAY}')} END",
            ),
            ("purchase_timeframe", "'This quarter'"),
            ("decision_maker_identified", f"{gates} = 'true'" if postgres else f"json({gates})"),
            ("customer_need", "CASE WHEN l.pos > 0 THEN 'A fleet renewal' END"),
        ]
    )
    load = [
        'INSERT INTO record (id, entity_id, name, owner, "values", version, active_instance_id,'
        " created_at, updated_at)"
        f" SELECT i.record_id, p.entity_id, 'Deal ' || (i.n + 1), i.owner, {values}, 1, i.id,"
        f" {q.time('i.start_e')}, {q.time('i.start_e')}"
        " FROM bench_inst i JOIN bench_last l ON l.id = i.id JOIN process p ON p.id = i.pid",
        "INSERT INTO instance (id, record_id, process_id, process_version, status, active_stage,"
        " path, version, started_at, active_since, completed_at, outcome, outcome_reason,"
        " completed_by, due_at)"
        f" SELECT i.id, i.record_id, i.pid, p.current_version, {status}, st.key,"
        f" {q.json('st.path')}, l.n + 1 + CASE WHEN {ended} THEN 1 ELSE 0 END,"
        f" {q.time('i.start_e')}, {q.time('l.entered')},"
        f" CASE WHEN {ended} THEN {q.time('l.exited')} END,"
        " CASE WHEN l.kind IN ('won', 'lost') THEN l.kind END, "
        f"{reason}, CASE WHEN {ended} THEN i.owner END,"
        f" CASE WHEN {ended} THEN NULL ELSE {q.time('l.due_e')} END"
        " FROM bench_inst i JOIN bench_last l ON l.id = i.id JOIN process p ON p.id = i.pid"
        " JOIN bench_stage st ON st.pid = i.pid AND st.pos = l.pos",
        "INSERT INTO stage_visit (instance_id, n, stage, entered_at, exited_at, entered_by,"
        " due_at, overdue_at)"
        f" SELECT s.id, s.n, st.key, {q.time('s.entered')},"
        f" CASE WHEN s.exited IS NOT NULL THEN {q.time('s.exited')} END, i.owner,"
        f" CASE WHEN s.due_e IS NOT NULL THEN {q.time('s.due_e')} END,"
        f" CASE WHEN s.due_e < COALESCE(s.exited, {now}) THEN {q.time('s.due_e')} END"
        " FROM bench_stays s JOIN bench_inst i ON i.id = s.id"
        " JOIN bench_stage st ON st.pid = s.pid AND st.pos = s.pos ORDER BY s.id, s.n",
    ]
    drops = [f"DROP TABLE bench_stay{n}" for n in range(MAX_STAYS)]
    drops += [f"DROP TABLE {t}" for t in ("bench_stays", "bench_last", "bench_len")]
    drops += ["DROP TABLE bench_inst", "DROP TABLE bench_stage"]
    return setup, load + drops


_BASES = {
    "record": "SELECT COALESCE(MAX(id), 0) + 1 FROM record",
    "instance": "SELECT COALESCE(MAX(id), 0) + 1 FROM instance",
}


async def load_postgres(
    url: str, *, size: int, now: dt.datetime, processes: list[tuple[Process, float]]
) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            bases = {k: int(await conn.fetchval(sql)) for k, sql in _BASES.items()}
            setup, load = statements(
                True, size=size, now=int(now.timestamp()), processes=processes, bases=bases
            )
            await conn.execute("SET LOCAL work_mem = '256MB'")
            for sql in setup:
                await conn.execute(sql)
            # Triggers off for the load (each row would rewrite the same few count rows),
            # and the counts taken afresh after.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for sql in load:
                await conn.execute(sql)
            await conn.execute("SET LOCAL session_replication_role = origin")
            for sql in (
                *_RECOUNT,
                *insight_days.recount(True),
                *insight_months.recount(),
                *stage_times.recount(True),
                *pipeline_rows.recount(True),
                *pipeline_sums.recount(),
            ):
                await conn.execute(sql)
            for table in ("record", "instance", "stage_visit"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}"
                )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _u(a: int, salt: int) -> float:
    """SQLite's bench_u: splitmix64 of (a, salt), as a float in [0, 1)."""
    z = (a * 131 + salt + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) / 2.0**64


def load_sqlite(
    path: str, *, size: int, now: dt.datetime, processes: list[tuple[Process, float]]
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.create_function("bench_u", 2, _u, deterministic=True)
        conn.execute("BEGIN")
        bases = {k: int(conn.execute(sql).fetchone()[0]) for k, sql in _BASES.items()}
        setup, load = statements(
            False, size=size, now=int(now.timestamp()), processes=processes, bases=bases
        )
        for sql in setup + load:
            conn.execute(sql)
        for sql in (
            *_RECOUNT,
            *insight_days.recount(False),
            *insight_months.recount(),
            *stage_times.recount(False),
            *pipeline_rows.recount(False),
            *pipeline_sums.recount(),
        ):
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
