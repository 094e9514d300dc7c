"""The insights' counts per month, kept from the counts per day (migration 0020), so that a
figure over whole months reads a row per month and key rather than one per day.

A row of `insight_day` (server/db/insight_days.py) that is written, changed or removed
appends the change of its count to `insight_month_delta`, under its month, in the
transaction of the change; `fold` moves the deltas into `insight_month`. A figure reads the
months plus the deltas not folded yet (server/db/folds.py says why appending rather than
adding, and how a fold stays exact on both databases).
"""

from __future__ import annotations

from server.db.folds import BATCH, Folded

KEY = ("process_id", "process_version", "owner", "month", "what", "stage", "status", "outcome",
       "reason")  # fmt: skip
# The columns a row of `insight_day` shares with its month's row.
SHARED = tuple(c for c in KEY if c != "month")


def tables(postgres: bool) -> list[str]:
    columns = (
        '"process_id" INT NOT NULL, "process_version" INT NOT NULL, "owner" VARCHAR(200) NOT NULL,'
        ' "month" VARCHAR(7) NOT NULL, "what" VARCHAR(8) NOT NULL, "stage" VARCHAR(64) NOT NULL,'
        ' "status" VARCHAR(16) NOT NULL, "outcome" VARCHAR(64) NOT NULL,'
        ' "reason" VARCHAR(500) NOT NULL, "n" BIGINT NOT NULL'
    )
    serial = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    return [
        f'CREATE TABLE "insight_month" ({columns}, PRIMARY KEY ("process_id", "what", "month",'
        ' "process_version", "owner", "stage", "status", "outcome", "reason"))',
        f'CREATE TABLE "insight_month_delta" ("id" {serial}, {columns})',
        'CREATE INDEX "insight_month_delta_process" ON "insight_month_delta" ("process_id")',
        # The keys a fold brought to nought, found without reading the others.
        'CREATE INDEX "insight_month_emptied" ON "insight_month" ("process_id") WHERE "n" = 0',
    ]


def delta(row: str, n: str) -> str:
    """An INSERT of the trigger's `row` (OLD or NEW) of insight_day as a delta of `n`."""
    values = ", ".join(f"substr({row}.day, 1, 7)" if c == "month" else f"{row}.{c}" for c in KEY)
    return f"INSERT INTO insight_month_delta ({', '.join(KEY)}, n) VALUES ({values}, {n})"


def same_key(distinct: str) -> str:
    """Whether the trigger's OLD and NEW rows of insight_day count under one key."""
    return " AND ".join(f"NOT (OLD.{c} {distinct} NEW.{c})" for c in (*SHARED, "day"))


FOLDED = Folded("insight_month", "insight_month_delta", KEY, ("n",))


async def fold(*, batch: int = BATCH) -> int:
    """Move the deltas into the months (server/db/folds.py); how many were moved."""
    return await FOLDED.fold(batch=batch)


def recount(process_id: int | None = None) -> list[str]:
    """Statements that take the months afresh from the days: of one process, or of all;
    the deltas go."""
    scope = "1 = 1" if process_id is None else f"process_id = {int(process_id)}"
    shared = ", ".join(SHARED)
    return [
        *FOLDED.cleared(scope),
        f"INSERT INTO insight_month (month, {shared}, n) SELECT substr(day, 1, 7), {shared},"
        f" SUM(n) FROM insight_day WHERE {scope} GROUP BY substr(day, 1, 7), {shared}"
        " HAVING SUM(n) <> 0",
    ]
