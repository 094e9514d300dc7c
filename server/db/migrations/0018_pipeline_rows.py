# What each active instance brings to the weighted pipeline (`pipeline_row`), kept by
# triggers on both databases in the transaction of the change: an instance started, moved,
# migrated, ended or reactivated, a record's values or owner changed. The statements, and
# what a row holds, are in server/db/pipeline_rows.py; the rows of the instances active
# before are taken here.
#
# On PostgreSQL a trigger first takes a share lock on the instance's record, so that a
# change of the record and a change of its instance made at once each see the other's.
from tortoise import migrations
from tortoise.migrations import operations as ops

from server.db import pipeline_rows as pipeline

_INSTANCE = ("status", "active_stage", "process_version")
_RECORD = ("values", "owner")


def _changed(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f'OLD."{c}" {distinct} NEW."{c}"' for c in columns)


def _function(name: str, body: list[str]) -> str:
    statements = "".join(f"  {sql};\n" for sql in body)
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"{statements}  RETURN NULL;\nEND $$"
    )


def _postgres() -> list[str]:
    of = ", ".join(f'"{c}"' for c in _INSTANCE)
    return [
        *pipeline.table(True),
        _function(
            "pipeline_row_instance",
            [
                "PERFORM 1 FROM record WHERE id = NEW.record_id FOR SHARE",
                *pipeline.instance_written(True),
            ],
        ),
        # The record's own row is held by the change itself.
        _function("pipeline_row_record", pipeline.record_written(True)),
        'CREATE TRIGGER "pipeline_row_instance_insert" AFTER INSERT ON "instance" FOR EACH ROW'
        " EXECUTE FUNCTION pipeline_row_instance()",
        f'CREATE TRIGGER "pipeline_row_instance_update" AFTER UPDATE OF {of} ON "instance"'
        f" FOR EACH ROW WHEN ({_changed(_INSTANCE, 'IS DISTINCT FROM')})"
        " EXECUTE FUNCTION pipeline_row_instance()",
        'CREATE TRIGGER "pipeline_row_record" AFTER UPDATE OF "values", "owner" ON "record"'
        f" FOR EACH ROW WHEN ({_changed(_RECORD, 'IS DISTINCT FROM')})"
        " EXECUTE FUNCTION pipeline_row_record()",
    ]


def _sqlite_trigger(name: str, on: str, when: str, body: list[str]) -> str:
    statements = "".join(f"{sql}; " for sql in body)
    return f"CREATE TRIGGER {name} AFTER {on} WHEN {when} BEGIN {statements}END"


def _sqlite() -> list[str]:
    mine = pipeline.instance_written(False)
    of = ", ".join(f'"{c}"' for c in _INSTANCE)
    return [
        *pipeline.table(False),
        _sqlite_trigger("pipeline_row_instance_insert", "INSERT ON instance", "1 = 1", mine),
        _sqlite_trigger(
            "pipeline_row_instance_update", f"UPDATE OF {of} ON instance",
            _changed(_INSTANCE, "IS NOT"), mine,
        ),  # fmt: skip
        _sqlite_trigger(
            "pipeline_row_record", 'UPDATE OF "values", "owner" ON record',
            _changed(_RECORD, "IS NOT"), pipeline.record_written(False),
        ),  # fmt: skip
    ]


REVERSE_POSTGRES = [
    'DROP TRIGGER IF EXISTS "pipeline_row_record" ON "record"',
    'DROP TRIGGER IF EXISTS "pipeline_row_instance_update" ON "instance"',
    'DROP TRIGGER IF EXISTS "pipeline_row_instance_insert" ON "instance"',
    "DROP FUNCTION IF EXISTS pipeline_row_record()",
    "DROP FUNCTION IF EXISTS pipeline_row_instance()",
    'DROP TABLE IF EXISTS "pipeline_row"',
]
REVERSE_SQLITE = [
    "DROP TRIGGER IF EXISTS pipeline_row_record",
    "DROP TRIGGER IF EXISTS pipeline_row_instance_update",
    "DROP TRIGGER IF EXISTS pipeline_row_instance_insert",
    'DROP TABLE IF EXISTS "pipeline_row"',
]


async def add_pipeline_rows(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(_postgres() if postgres else _sqlite()), *pipeline.recount(postgres)]:
        await client.execute_script(sql)


async def drop_pipeline_rows(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in REVERSE_POSTGRES if postgres else REVERSE_SQLITE:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0017_stage_times")]

    initial = False

    operations = [ops.RunPython(add_pipeline_rows, drop_pipeline_rows)]
