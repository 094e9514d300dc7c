# Indexes for the insights that walk stays and ended instances (server/db/insights.py),
# each holding every column its statement reads, so the database answers from the index
# alone (PostgreSQL: an index-only scan) instead of visiting each row:
# - stays by when they ended (time in stage over a range) and by when they began (the
#   forward moves of a throughput week), with the stay's instance, number and stage;
# - a process's ended instances by status and end, with start, outcome and reason
#   (outcomes, cycle time);
# - a process's instances by start, with stage and status (the funnel's resting counts).
# Both databases take the same plain indexes.
from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = [
    'CREATE INDEX IF NOT EXISTS "stage_visit_exited" ON "stage_visit"'
    ' ("exited_at", "instance_id", "stage", "entered_at")',
    'CREATE INDEX IF NOT EXISTS "stage_visit_entered" ON "stage_visit"'
    ' ("entered_at", "instance_id", "n", "stage")',
    'CREATE INDEX IF NOT EXISTS "instance_ended" ON "instance"'
    ' ("process_id", "status", "completed_at", "started_at", "outcome", "outcome_reason")',
    'CREATE INDEX IF NOT EXISTS "instance_started" ON "instance"'
    ' ("process_id", "started_at", "active_stage", "status")',
]
INDEXES_REVERSE = [
    'DROP INDEX IF EXISTS "stage_visit_exited"',
    'DROP INDEX IF EXISTS "stage_visit_entered"',
    'DROP INDEX IF EXISTS "instance_ended"',
    'DROP INDEX IF EXISTS "instance_started"',
]


async def _run(schema_editor, statements):
    for sql in statements:
        await schema_editor.client.execute_script(sql)


async def add_indexes(apps, schema_editor):
    await _run(schema_editor, INDEXES)


async def drop_indexes(apps, schema_editor):
    await _run(schema_editor, INDEXES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("models", "0014_insight_indexes")]

    initial = False

    operations = [ops.RunPython(add_indexes, drop_indexes)]
