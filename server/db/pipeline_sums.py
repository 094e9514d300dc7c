"""The weighted pipeline's sums per key, kept from the pipeline rows (migration 0019), so
that the pipeline reads a row per (process, version, owner, stage, close month) rather than
one per active instance.

A row of `pipeline_row` (server/db/pipeline_rows.py) that is written, rewritten or removed
appends what changed to `pipeline_delta`, in the transaction of the change: minus the row
as it was, plus the row as it is (instances, instances with an amount, amount in
hundredths). `fold` moves the deltas into `pipeline_sum`, one row per key; the pipeline is
the sums plus the deltas not folded yet (server/db/folds.py says why, and how a fold stays
exact on both databases).

A close month is '' here when the close date is unset (a key's columns are never null).
"""

from __future__ import annotations

from server.db.folds import BATCH, Folded

KEY = ("process_id", "process_version", "owner", "stage", "month")
AMOUNTS = ("n", "counted", "cents")


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


FOLDED = Folded("pipeline_sum", "pipeline_delta", KEY, AMOUNTS)


async def fold(*, batch: int = BATCH) -> int:
    """Move the deltas into the sums (server/db/folds.py); how many were moved."""
    return await FOLDED.fold(batch=batch)


def recount(process_id: int | None = None) -> list[str]:
    """Statements that take the sums afresh from the pipeline rows: of one process, or of
    all; the deltas go."""
    scope = "1 = 1" if process_id is None else f"process_id = {int(process_id)}"
    keys = ", ".join(KEY)
    return [
        *FOLDED.cleared(scope),
        f"INSERT INTO pipeline_sum ({keys}, {', '.join(AMOUNTS)})"
        " SELECT process_id, process_version, owner, stage, COALESCE(month, ''), COUNT(*),"
        f" COUNT(cents), COALESCE(SUM(cents), 0) FROM pipeline_row WHERE {scope}"
        " GROUP BY process_id, process_version, owner, stage, COALESCE(month, '')",
    ]
