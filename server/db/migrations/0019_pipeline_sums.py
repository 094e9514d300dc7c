# The weighted pipeline's sums per key (`pipeline_sum`) and the deltas not folded into them
# yet (`pipeline_delta`), appended by triggers on `pipeline_row` in the transaction of each
# change: minus a row as it was, plus the row as it is. The statements, and how a fold
# moves deltas into the sums, are in server/db/pipeline_sums.py; the sums of the rows
# there before are taken here.
from tortoise import migrations
from tortoise.migrations import operations as ops

from server.db import pipeline_sums as sums

# The pipeline is read from the sums now: the rows need only be found by process (a
# version that names other fields takes a process's rows afresh), and each row written
# keeps this narrower index rather than the one migration 0018 made for reading them.
NARROWED = [
    'DROP INDEX "pipeline_row_process"',
    'CREATE INDEX "pipeline_row_process" ON "pipeline_row" ("process_id")',
]
WIDENED = [
    'DROP INDEX "pipeline_row_process"',
    'CREATE INDEX "pipeline_row_process" ON "pipeline_row" ("process_id", "stage", "month",'
    ' "cents", "owner", "process_version")',
]
_CHANGED = ("process_id", "process_version", "owner", "stage", "month", "cents")


def _changed(distinct: str) -> str:
    return " OR ".join(f'OLD."{c}" {distinct} NEW."{c}"' for c in _CHANGED)


def _postgres() -> list[str]:
    return [
        *sums.tables(True),
        "CREATE FUNCTION pipeline_delta_row() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"  IF TG_OP <> 'INSERT' THEN {sums.removed()}; END IF;\n"
        f"  IF TG_OP <> 'DELETE' THEN {sums.added()}; END IF;\n"
        "  RETURN NULL;\nEND $$",
        'CREATE TRIGGER "pipeline_delta_written" AFTER INSERT OR DELETE ON "pipeline_row"'
        " FOR EACH ROW EXECUTE FUNCTION pipeline_delta_row()",
        'CREATE TRIGGER "pipeline_delta_rewritten" AFTER UPDATE ON "pipeline_row"'
        f" FOR EACH ROW WHEN ({_changed('IS DISTINCT FROM')})"
        " EXECUTE FUNCTION pipeline_delta_row()",
    ]


def _sqlite() -> list[str]:
    return [
        *sums.tables(False),
        "CREATE TRIGGER pipeline_delta_added AFTER INSERT ON pipeline_row"
        f" BEGIN {sums.added()}; END",
        "CREATE TRIGGER pipeline_delta_removed AFTER DELETE ON pipeline_row"
        f" BEGIN {sums.removed()}; END",
        "CREATE TRIGGER pipeline_delta_rewritten AFTER UPDATE ON pipeline_row"
        f" WHEN {_changed('IS NOT')} BEGIN {sums.removed()}; {sums.added()}; END",
    ]


REVERSE_POSTGRES = [
    'DROP TRIGGER IF EXISTS "pipeline_delta_rewritten" ON "pipeline_row"',
    'DROP TRIGGER IF EXISTS "pipeline_delta_written" ON "pipeline_row"',
    "DROP FUNCTION IF EXISTS pipeline_delta_row()",
    'DROP TABLE IF EXISTS "pipeline_delta"',
    'DROP TABLE IF EXISTS "pipeline_sum"',
]
REVERSE_SQLITE = [
    "DROP TRIGGER IF EXISTS pipeline_delta_rewritten",
    "DROP TRIGGER IF EXISTS pipeline_delta_removed",
    "DROP TRIGGER IF EXISTS pipeline_delta_added",
    'DROP TABLE IF EXISTS "pipeline_delta"',
    'DROP TABLE IF EXISTS "pipeline_sum"',
]


async def add_pipeline_sums(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(_postgres() if postgres else _sqlite()), *NARROWED, *sums.recount()]:
        await client.execute_script(sql)


async def drop_pipeline_sums(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(REVERSE_POSTGRES if postgres else REVERSE_SQLITE), *WIDENED]:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0018_pipeline_rows")]

    initial = False

    operations = [ops.RunPython(add_pipeline_sums, drop_pipeline_sums)]
