from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

# A board lane is the records list filtered by process, stage and status of the instance a
# record's bar shows, in record order. A lane holding most records is found by walking
# records in id order; a lane holding few (or none) by its instances, then each one's record
# through the index on the record's shown instance. On PostgreSQL the planner tells the two
# apart only if it knows how process, stage and status go together: statistics on the
# three columns as one (their most common combinations), taken at once here and kept by
# autovacuum since. Without them an empty lane of a million records walked every record.
POSTGRES = [
    'CREATE STATISTICS IF NOT EXISTS "instance_lane" (mcv, ndistinct)'
    ' ON "process_id", "active_stage", "status" FROM "instance"',
    'ANALYZE "instance"',
]
POSTGRES_REVERSE = ['DROP STATISTICS IF EXISTS "instance_lane"']


async def _run(schema_editor, postgres):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for sql in postgres:
            await client.execute_script(sql)


async def add_lane_statistics(apps, schema_editor):
    await _run(schema_editor, POSTGRES)


async def drop_lane_statistics(apps, schema_editor):
    await _run(schema_editor, POSTGRES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("models", "0010_instance_outcomes")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="RecordRow",
            index=Index(fields=["active_instance_id"]),
        ),
        ops.RunPython(add_lane_statistics, drop_lane_statistics),
    ]
