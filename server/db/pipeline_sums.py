"""The weighted pipeline's sums per key, kept from the pipeline rows (migration 0019), so
that the pipeline reads a row per (process, version, owner, stage, close month) rather than
one per active instance.

A row of `pipeline_row` (server/db/pipeline_rows.py) that is written, rewritten or removed
appends what changed to `pipeline_delta`, in the transaction of the change: minus the row
as it was, plus the row as it is (instances, instances with an amount, amount in
hundredths). Appending never waits on another change, where adding into one row per key
would queue every change of the same key behind the one before it.

`fold` moves the deltas into `pipeline_sum`, one row per key, a batch at a time; each
worker does so every few seconds (server/services/folding.py). The pipeline is the sums
plus the deltas not folded yet, read in one statement, so it is exact whether a fold has
run or not. On PostgreSQL a fold deletes its batch and adds it into the sums in one
statement: a delta is added exactly when it is deleted, and a delta written by a change
that has not committed yet is neither (it waits for the next fold); folds on several
workers take batches that do not overlap (SKIP LOCKED). On SQLite a fold is one
transaction, which no other writer interleaves.

A close month is '' here when the close date is unset (a key's columns are never null).
"""

from __future__ import annotations

from tortoise.connection import get_connection

from server.db import transaction

KEY = ("process_id", "process_version", "owner", "stage", "month")
AMOUNTS = ("n", "counted", "cents")
BATCH = 5000


def tables(postgres: bool) -> list[str]:
    cents = "NUMERIC(30, 0)" if postgres else "INTEGER"
    key = (
        '"process_id" INT NOT NULL, "process_version" INT NOT NULL,'
        ' "owner" VARCHAR(200) NOT NULL, "stage" VARCHAR(64) NOT NULL,'
        ' "month" VARCHAR(7) NOT NULL,'
        f' "n" BIGINT NOT NULL, "counted" BIGINT NOT NULL, "cents" {cents} NOT NULL'
    )
    serial = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    return [
        f'CREATE TABLE "pipeline_sum" ({key},'
        ' PRIMARY KEY ("process_id", "process_version", "owner", "stage", "month"))',
        f'CREATE TABLE "pipeline_delta" ("id" {serial}, {key})',
        'CREATE INDEX "pipeline_delta_process" ON "pipeline_delta" ("process_id")',
        # The keys a fold brought to nought, found without reading the others.
        'CREATE INDEX "pipeline_sum_emptied" ON "pipeline_sum" ("process_id") WHERE "n" = 0',
    ]


def _delta(row: str, sign: int) -> str:
    """An INSERT of the trigger's `row` (OLD or NEW) as a delta, times `sign`."""
    values = (
        f"{row}.process_id, {row}.process_version, {row}.owner, {row}.stage,"
        f" COALESCE({row}.month, ''), {sign}, CASE WHEN {row}.cents IS NULL THEN 0"
        f" ELSE {sign} END, {sign} * COALESCE({row}.cents, 0)"
    )
    return f"INSERT INTO pipeline_delta ({', '.join(KEY + AMOUNTS)}) VALUES ({values})"


def added() -> str:
    """What a pipeline row `NEW` inserted appends."""
    return _delta("NEW", 1)


def removed() -> str:
    """What a pipeline row `OLD` deleted appends."""
    return _delta("OLD", -1)


def _add_into_sums(source: str) -> str:
    """An INSERT adding the deltas of `source` (a table, or one with a WHERE) into the
    sums, key by key, the keys in order."""
    keys = ", ".join(KEY)
    summed = ", ".join(f"SUM({a})" for a in AMOUNTS)
    updated = ", ".join(f"{a} = pipeline_sum.{a} + excluded.{a}" for a in AMOUNTS)
    return (
        f"INSERT INTO pipeline_sum ({keys}, {', '.join(AMOUNTS)}) SELECT {keys}, {summed}"
        f" FROM {source} GROUP BY {keys} ORDER BY {keys}"
        f" ON CONFLICT ({keys}) DO UPDATE SET {updated}"
    )


def _fold_postgres() -> str:
    """Take up to $1 deltas no other fold holds, add them into the sums; how many (n)."""
    return (
        "WITH batch AS (SELECT id FROM pipeline_delta ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),"
        " taken AS (DELETE FROM pipeline_delta d USING batch b WHERE d.id = b.id"
        f" RETURNING {', '.join(f'd.{c}' for c in KEY + AMOUNTS)}),"
        f" added AS ({_add_into_sums('taken')} RETURNING 1)"
        " SELECT COUNT(*) AS n FROM taken"
    )


def _fold_sqlite() -> list[str]:
    """Add the first ? deltas into the sums, then delete them (one transaction)."""
    batch = "id <= (SELECT MAX(id) FROM (SELECT id FROM pipeline_delta ORDER BY id LIMIT ?))"
    return [
        _add_into_sums(f"pipeline_delta WHERE {batch}"),
        f"DELETE FROM pipeline_delta WHERE {batch}",
    ]


# A key whose sums came to nought holds no instance: its row goes.
_EMPTIED = "DELETE FROM pipeline_sum WHERE n = 0"


async def _fold_batch(batch: int) -> int:
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(_fold_postgres(), [batch])
        taken = int(rows[0]["n"])
    else:
        found = await conn.execute_query_dict(
            "SELECT COUNT(*) AS n FROM (SELECT id FROM pipeline_delta LIMIT ?) b", [batch]
        )
        taken = int(found[0]["n"])
        if taken:
            for sql in _fold_sqlite():
                await conn.execute_query(sql, [batch])
    if taken:
        await conn.execute_query(_EMPTIED)
    return taken


async def fold(*, batch: int = BATCH) -> int:
    """Move the deltas into the sums, a batch per transaction, until fewer than a batch
    were left (those of changes not committed yet wait for the next fold); how many were
    moved. A fold whose commit went unanswered is as good as one that did not run: the
    sums plus the deltas are the same either way."""

    async def landed(_: int) -> bool:
        return True

    moved = 0
    while True:
        taken = await transaction.run(lambda: _fold_batch(batch), landed=landed)
        moved += taken
        if taken < batch:
            return moved


def recount(process_id: int | None = None) -> list[str]:
    """Statements that take the sums afresh from the pipeline rows: of one process, or of
    all; the deltas go."""
    scope = "1 = 1" if process_id is None else f"process_id = {int(process_id)}"
    keys = ", ".join(KEY)
    return [
        f"DELETE FROM pipeline_delta WHERE {scope}",
        f"DELETE FROM pipeline_sum WHERE {scope}",
        f"INSERT INTO pipeline_sum ({keys}, {', '.join(AMOUNTS)})"
        " SELECT process_id, process_version, owner, stage, COALESCE(month, ''), COUNT(*),"
        f" COUNT(cents), COALESCE(SUM(cents), 0) FROM pipeline_row WHERE {scope}"
        " GROUP BY process_id, process_version, owner, stage, COALESCE(month, '')",
    ]
