from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# Due dates per stay: when each stay in a stage is due (its stage's due counted from when
# it began), when its one overdue event was written, and the open stay's deadline on the
# instance, which the overdue filters compare. Stays begun before have no due.
#
# The scan for stays past their due reads only open stays not yet marked: a partial index
# holds just those, so it stays small however many stays have ended or been marked. The
# overdue filters read active instances by deadline. Both databases take partial indexes.
INDEXES = [
    'CREATE INDEX IF NOT EXISTS "stage_visit_overdue_scan" ON "stage_visit" ("due_at")'
    ' WHERE "exited_at" IS NULL AND "overdue_at" IS NULL AND "due_at" IS NOT NULL',
    'CREATE INDEX IF NOT EXISTS "instance_due" ON "instance" ("due_at")'
    " WHERE \"status\" = 'ACTIVE' AND \"due_at\" IS NOT NULL",
]
INDEXES_REVERSE = [
    'DROP INDEX IF EXISTS "stage_visit_overdue_scan"',
    'DROP INDEX IF EXISTS "instance_due"',
]


async def _run(schema_editor, statements):
    for sql in statements:
        await schema_editor.client.execute_script(sql)


async def add_due_indexes(apps, schema_editor):
    await _run(schema_editor, INDEXES)


async def drop_due_indexes(apps, schema_editor):
    await _run(schema_editor, INDEXES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("models", "0011_board_lanes")]

    initial = False

    operations = [
        ops.AddField(
            model_name="VisitRow",
            name="due_at",
            field=fields.DatetimeField(null=True),
        ),
        ops.AddField(
            model_name="VisitRow",
            name="overdue_at",
            field=fields.DatetimeField(null=True),
        ),
        ops.AddField(
            model_name="InstanceRow",
            name="due_at",
            field=fields.DatetimeField(null=True),
        ),
        ops.RunPython(add_due_indexes, drop_due_indexes),
    ]
