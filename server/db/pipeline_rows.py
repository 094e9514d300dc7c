"""What each active instance brings to its process's weighted pipeline, kept by triggers
(migration 0018), so that its sums (server/db/pipeline_sums.py, migration 0019) follow a
narrow row per active instance instead of every record's values.

`pipeline_row` holds one row per active instance: its process, version, owner and stage,
the month of its close date (YYYY-MM, null when unset) and its amount in hundredths (null
unless the value is a number), both read from the record's values by the fields the
process's current version names (`amount_field`, `close_date_field`). Each instance has a
row of its own, so concurrent changes never wait on one another's rows.

A trigger writes the row again when an instance starts, ends, moves, is migrated or is
reactivated, and when a record's values or owner change; a version that names other fields
takes the process's rows afresh when it is published (`refresh`). On PostgreSQL a change
of an instance first takes a share lock on its record (a change of the record holds it
already), so that a change of the record and a change of its instance made at once each
see the other's.

The triggers of migration 0018 run these statements as they stood when it was written;
changing one here changes what `recount` writes, so a change of meaning needs a migration
that replaces the triggers too.
"""

from __future__ import annotations

import json

from tortoise.connection import get_connection

COLUMNS = ("instance_id", "process_id", "process_version", "owner", "stage", "month", "cents")


def table(postgres: bool) -> list[str]:
    return [
        'CREATE TABLE "pipeline_row" ("instance_id" INT NOT NULL PRIMARY KEY,'
        ' "process_id" INT NOT NULL, "process_version" INT NOT NULL,'
        ' "owner" VARCHAR(200) NOT NULL, "stage" VARCHAR(64) NOT NULL, "month" VARCHAR(7),'
        f' "cents" {"NUMERIC(24, 0)" if postgres else "INTEGER"})',
        'CREATE INDEX "pipeline_row_process" ON "pipeline_row" ("process_id", "stage",'
        ' "month", "cents", "owner", "process_version")',
    ]


def _field(postgres: bool, name: str) -> str:
    """The field the current version of instance `i`'s process names as `name`."""
    value = f"v.definition ->> '{name}'" if postgres else f"json_extract(v.definition, '$.{name}')"
    return (
        f"(SELECT {value} FROM process p JOIN process_version v ON v.process_id = p.id"
        " AND v.number = p.current_version WHERE p.id = i.process_id)"
    )


def _cents(postgres: bool) -> str:
    """`a` (the amount's value) in hundredths, rounded; null unless it is a number (a value
    written before the field became one is left out). On SQLite `t` is its JSON type."""
    if postgres:
        return "CASE WHEN a ~ '^-?[0-9]+([.][0-9]+)?$' THEN ROUND(CAST(a AS NUMERIC) * 100) END"
    return (
        "CASE WHEN t IN ('integer', 'real') OR (t = 'text' AND a GLOB '*[0-9]*'"
        " AND NOT a GLOB '*[^0-9.-]*') THEN CAST(ROUND(CAST(a AS REAL) * 100) AS INTEGER) END"
    )


def rows(postgres: bool, where: str) -> str:
    """A SELECT of the rows (COLUMNS) of the active instances `i` matching `where`."""
    if postgres:
        values = (
            'r."values" ->> i.amount_field AS a, NULL AS t,'
            ' substr(r."values" ->> i.close_field, 1, 7) AS month'
        )
    else:
        path = "'$.\"' || i.{} || '\"'"
        values = (
            f'json_extract(r."values", {path.format("amount_field")}) AS a,'
            f' json_type(r."values", {path.format("amount_field")}) AS t,'
            f' substr(CAST(json_extract(r."values", {path.format("close_field")}) AS TEXT),'
            " 1, 7) AS month"
        )
    instances = (
        "SELECT i.id, i.record_id, i.process_id, i.process_version, i.active_stage,"
        f" {_field(postgres, 'amount_field')} AS amount_field,"
        f" {_field(postgres, 'close_date_field')} AS close_field"
        f" FROM instance i WHERE i.status = 'ACTIVE' AND ({where})"
    )
    return (
        f"SELECT instance_id, process_id, process_version, owner, stage, month, {_cents(postgres)}"
        " AS cents FROM (SELECT i.id AS instance_id, i.process_id, i.process_version, r.owner,"
        f" i.active_stage AS stage, {values} FROM ({instances}) i"
        " JOIN record r ON r.id = i.record_id) w WHERE 1 = 1"
    )


def instance_written(postgres: bool) -> list[str]:
    """Statements writing afresh the row of the instance `NEW`: gone unless it is active,
    else as it and its record stand."""
    return [
        "DELETE FROM pipeline_row WHERE instance_id = NEW.id AND NEW.status <> 'ACTIVE'",
        _upsert(postgres, "i.id = NEW.id"),
    ]


def record_written(postgres: bool) -> list[str]:
    """Statements writing afresh the rows of the active instances of the record `NEW`
    (an instance that is not active has no row)."""
    return [_upsert(postgres, "i.record_id = NEW.id")]


def _upsert(postgres: bool, where: str) -> str:
    updated = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    return (
        f"INSERT INTO pipeline_row ({', '.join(COLUMNS)}) {rows(postgres, where)}"
        f" ON CONFLICT (instance_id) DO UPDATE SET {updated}"
    )


def recount(postgres: bool, process_id: int | None = None) -> list[str]:
    """Statements that take the rows afresh: of one process's instances, or of all."""
    scope = "1 = 1" if process_id is None else f"process_id = {int(process_id)}"
    where = "1 = 1" if process_id is None else f"i.process_id = {int(process_id)}"
    return [
        f"DELETE FROM pipeline_row WHERE {scope}",
        f"INSERT INTO pipeline_row ({', '.join(COLUMNS)}) {rows(postgres, where)}",
    ]


def fields_of(definition: object) -> tuple[str | None, str | None]:
    """The amount and close-date fields a stored version's definition names."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    if not isinstance(data, dict):
        return (None, None)
    return (data.get("amount_field"), data.get("close_date_field"))


async def refresh(process_id: int, before: tuple[str | None, str | None] | None,
                  after: tuple[str | None, str | None]) -> None:  # fmt: skip
    """After a version is published: if it names other amount or close-date fields than
    the version before (`before`, None for the first), the process's rows are taken afresh
    under them; on PostgreSQL no row is written meanwhile (a lock until the publishing
    transaction ends), so none is left under the fields before."""
    if before is None or before == after:
        return
    conn = get_connection("default")
    postgres = conn.capabilities.dialect == "postgres"
    if postgres:
        await conn.execute_script('LOCK TABLE "pipeline_row" IN SHARE MODE')
    for sql in recount(postgres, process_id):
        await conn.execute_script(sql)
