"""What the insights count per day, kept by triggers (migration 0016), and the statements
that take those counts afresh.

`insight_day` holds, per (process, version, owner, UTC day) and kind, how many instances or
moves count there, so that a figure over whole days sums a few rows per day rather than
walking every instance and stay (server/db/insights.py adds the part days at a range's
ends from the rows themselves). The kinds, each what an instance `i` of record `r`
contributes:

- `start`: one on the day `i` started, under its stage and status now (the funnel's
  resting counts; started per week);
- `end`: one on the day `i` ended, under its status, outcome and reason, while it is
  finished or abandoned (outcomes; finished and abandoned per week);
- `reach`: one per stage `i` has stayed in, on the day it started (the funnel's reached);
- `advance`: one per stage `i` moved forward from, on the day it started (the funnel's
  advanced);
- `move`: one per forward move, on the day of the move (advanced per week).

A move is forward when `stage_ahead` holds the pair of stages: (a, b) where b lies ahead of
a in some version of the process (server/domain/insights.py `ahead`), written when a
version is published (`add_pairs`). Stays are only ever appended, so a new stay's counts
depend on the stays before it alone; an instance's version and its record's owner are
keys, so a change of either moves the counts of the instance (or of the record's
instances) from the old key to the new.

The triggers of migration 0016 run these statements as they stood when it was written;
changing one here changes what `recount` and `add_pairs` write, so a change of meaning
needs a migration that replaces the triggers too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tortoise.connection import get_connection

KEY = ("process_id", "process_version", "owner", "day", "what", "stage", "status", "outcome",
       "reason")  # fmt: skip
KINDS = ("start", "end", "reach", "advance", "move")
TABLE = (
    'CREATE TABLE "insight_day" ('
    '"process_id" INT NOT NULL, "process_version" INT NOT NULL, "owner" VARCHAR(200) NOT NULL,'
    ' "day" VARCHAR(10) NOT NULL, "what" VARCHAR(8) NOT NULL, "stage" VARCHAR(64) NOT NULL,'
    ' "status" VARCHAR(16) NOT NULL, "outcome" VARCHAR(64) NOT NULL,'
    ' "reason" VARCHAR(500) NOT NULL, "n" BIGINT NOT NULL,'
    ' PRIMARY KEY ("process_id", "what", "day", "process_version", "owner", "stage",'
    ' "status", "outcome", "reason"))'
)
AHEAD_TABLE = (
    'CREATE TABLE "stage_ahead" ('
    '"process_id" INT NOT NULL, "stage" VARCHAR(64) NOT NULL, "later" VARCHAR(64) NOT NULL,'
    ' PRIMARY KEY ("process_id", "stage", "later"))'
)
INSTANCES = "instance i JOIN record r ON r.id = i.record_id"


def day(postgres: bool, at: str) -> str:
    """The UTC day of a time, as YYYY-MM-DD."""
    if postgres:
        return f"to_char(({at}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"date({at})"


def row(alias: str) -> str:
    """A trigger's old or new instance as a table `i`, joined to its record `r`."""
    columns = ("id", "record_id", "process_id", "process_version", "status", "active_stage",
               "started_at", "completed_at", "outcome", "outcome_reason")  # fmt: skip
    picked = ", ".join(f"{alias}.{c} AS {c}" for c in columns)
    return f"(SELECT {picked}) i JOIN record r ON r.id = i.record_id"


def _keyed(
    postgres: bool,
    what: str,
    *,
    at: str,
    version: str,
    owner: str,
    stage: str = "''",
    status: str = "''",
    outcome: str = "''",
    reason: str = "''",
    n: str = "COUNT(*)",
) -> tuple[str, str]:
    """The key columns and count of one kind, and what to group them by."""
    values = (
        "i.process_id", version, owner, day(postgres, at), f"'{what}'", stage, status, outcome,
        reason,
    )  # fmt: skip
    picked = ", ".join(f"{v} AS {k}" for v, k in zip(values, KEY, strict=True))
    grouped = ", ".join(v for v in values if not v.startswith("'"))
    return f"{picked}, {n} AS n", grouped


_STAYS = "JOIN stage_visit v ON v.instance_id = i.id"
_MOVES = (
    f"{_STAYS} JOIN stage_visit w ON w.instance_id = v.instance_id AND w.n = v.n + 1"
    " JOIN stage_ahead a ON a.process_id = i.process_id AND a.stage = v.stage"
    " AND a.later = w.stage"
)


def contributions(
    postgres: bool,
    *,
    source: str = INSTANCES,
    where: str = "1 = 1",
    owner: str = "r.owner",
    version: str = "i.process_version",
    kinds: Sequence[str] = KINDS,
) -> list[str]:
    """SELECTs of the key columns and `n`: what the instances `i` of `source` (with record
    `r`) matching `where` count, one SELECT per kind, counted under `owner` and `version`."""
    keys = {"version": version, "owner": owner}
    out = []
    for what in kinds:
        joins, extra = "", ""
        if what == "start":
            cols, grouped = _keyed(
                postgres, what, at="i.started_at", stage="i.active_stage", status="i.status",
                **keys,
            )  # fmt: skip
        elif what == "end":
            cols, grouped = _keyed(
                postgres, what, at="i.completed_at", status="i.status",
                outcome="COALESCE(i.outcome, '')", reason="COALESCE(i.outcome_reason, '')",
                **keys,
            )  # fmt: skip
            extra = " AND i.status IN ('FINISHED', 'ABANDONED') AND i.completed_at IS NOT NULL"
        elif what in ("reach", "advance"):
            joins = _STAYS if what == "reach" else _MOVES
            cols, grouped = _keyed(
                postgres, what, at="i.started_at", stage="v.stage",
                n="COUNT(DISTINCT v.instance_id)", **keys,
            )  # fmt: skip
        else:
            joins = _MOVES
            cols, grouped = _keyed(postgres, what, at="w.entered_at", **keys)
        out.append(f"SELECT {cols} FROM {source} {joins} WHERE ({where}){extra} GROUP BY {grouped}")
    return out


def stay_counts(postgres: bool) -> list[str]:
    """SELECTs of what a trigger's new stay `NEW` adds: its stage reached, if the instance
    had not stayed there before; a forward move from the stay before it, and that stage
    advanced from, if the instance had not moved forward from it before."""
    keys = {"version": "i.process_version", "owner": "r.owner"}
    reach, _ = _keyed(postgres, "reach", at="i.started_at", stage="NEW.stage", n="1", **keys)
    advance, _ = _keyed(postgres, "advance", at="i.started_at", stage="v.stage", n="1", **keys)
    move, _ = _keyed(postgres, "move", at="NEW.entered_at", n="1", **keys)
    before = (
        f"{INSTANCES} JOIN stage_visit v ON v.instance_id = i.id AND v.n = NEW.n - 1"
        " JOIN stage_ahead a ON a.process_id = i.process_id AND a.stage = v.stage"
        " AND a.later = NEW.stage WHERE i.id = NEW.instance_id"
    )
    return [
        f"SELECT {reach} FROM {INSTANCES} WHERE i.id = NEW.instance_id AND NOT EXISTS"
        " (SELECT 1 FROM stage_visit e WHERE e.instance_id = NEW.instance_id"
        " AND e.stage = NEW.stage AND e.n < NEW.n)",
        f"SELECT {move} FROM {before}",
        f"SELECT {advance} FROM {before} AND NOT EXISTS"
        " (SELECT 1 FROM stage_visit v2 JOIN stage_visit w2"
        " ON w2.instance_id = v2.instance_id AND w2.n = v2.n + 1"
        " JOIN stage_ahead a2 ON a2.process_id = i.process_id AND a2.stage = v2.stage"
        " AND a2.later = w2.stage"
        " WHERE v2.instance_id = NEW.instance_id AND v2.stage = v.stage AND w2.n < NEW.n)",
    ]


def add(parts: Iterable[tuple[str, int]]) -> str:
    """One statement adding each SELECT's counts (times its sign) to `insight_day`. The
    counts of a key are summed first, and a key whose sum is nought is left alone (a move
    within a key writes nothing); on PostgreSQL the keys are written in order, so that two
    changes never wait on each other's rows the other way round."""
    columns = ", ".join(KEY)
    body = " UNION ALL ".join(
        f"SELECT {columns}, n * {sign} AS n FROM ({sql}) p" for sql, sign in parts
    )
    return (
        f"INSERT INTO insight_day ({columns}, n) SELECT {columns}, SUM(n) FROM ({body}) d"
        f" WHERE 1 = 1 GROUP BY {columns} HAVING SUM(n) <> 0 ORDER BY {columns}"
        f" ON CONFLICT ({columns}) DO UPDATE SET n = insight_day.n + excluded.n"
    )


def recount(
    postgres: bool, *, process_id: int | None = None, kinds: Sequence[str] = KINDS
) -> list[str]:
    """Statements that take the counts of `kinds` afresh from the rows: of one process's
    instances, or (None) of every instance."""
    columns = ", ".join(KEY)
    listed = ", ".join(f"'{k}'" for k in kinds)
    scope = "1 = 1" if process_id is None else f"process_id = {int(process_id)}"
    where = "1 = 1" if process_id is None else f"i.process_id = {int(process_id)}"
    body = " UNION ALL ".join(contributions(postgres, where=where, kinds=kinds))
    return [
        f"DELETE FROM insight_day WHERE {scope} AND what IN ({listed})",
        f"INSERT INTO insight_day ({columns}, n) SELECT {columns}, n FROM ({body}) c WHERE n <> 0",
    ]


async def add_pairs(process_id: int, pairs: Iterable[tuple[str, str]]) -> None:
    """Record a published version's forward pairs. If it brings new ones and the process
    has run, its moves are counted afresh under them; on PostgreSQL no stay is begun
    meanwhile (a lock on the stays until the publishing transaction ends), so none is
    counted under the pairs before."""
    conn = get_connection("default")
    postgres = conn.capabilities.dialect == "postgres"
    mark = (lambda n: f"${n}") if postgres else (lambda n: "?")
    rows = await conn.execute_query_dict(
        f'SELECT "stage", "later" FROM "stage_ahead" WHERE "process_id" = {mark(1)}',
        [process_id],
    )
    new = sorted(set(pairs) - {(row["stage"], row["later"]) for row in rows})
    if not new:
        return
    ran = await conn.execute_query_dict(
        f'SELECT 1 AS found FROM "instance" WHERE "process_id" = {mark(1)} LIMIT 1', [process_id]
    )
    if ran and postgres:
        await conn.execute_script('LOCK TABLE "stage_visit" IN SHARE MODE')
    for stage, later in new:
        await conn.execute_query(
            f'INSERT INTO "stage_ahead" ("process_id", "stage", "later")'
            f" VALUES ({mark(1)}, {mark(2)}, {mark(3)}) ON CONFLICT DO NOTHING",
            [process_id, stage, later],
        )
    if ran:
        for sql in recount(postgres, process_id=process_id, kinds=("advance", "move")):
            await conn.execute_script(sql)
