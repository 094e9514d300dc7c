from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Webhooks, their deliveries and each delivery's tries. The planner's cursor (a counter row)
# starts at the newest event: webhooks hear of what commits once they exist.


async def add_planner_cursor(apps, schema_editor):
    await schema_editor.client.execute_script(
        "INSERT INTO counter (name, value) SELECT 'webhook_plan', COALESCE(MAX(seq), 0) FROM event"
    )


async def drop_planner_cursor(apps, schema_editor):
    await schema_editor.client.execute_script("DELETE FROM counter WHERE name = 'webhook_plan'")


class Migration(migrations.Migration):
    dependencies = [('models', '0012_stage_due')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.CharField(default='', db_default='', max_length=200)),
                ('secret', fields.CharField(max_length=100)),
                ('topics', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('process_ids', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('stages', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('entities', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(max_length=16)),
                ('paused_reason', fields.CharField(null=True, max_length=500)),
                ('failures', fields.IntField(default=0)),
                ('since_seq', fields.BigIntField()),
                ('version', fields.IntField()),
                ('created_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDeliveryRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uid', fields.CharField(unique=True, max_length=36)),
                ('webhook', fields.ForeignKeyField('models.WebhookRow', source_field='webhook_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('seq', fields.BigIntField()),
                ('kind', fields.CharField(max_length=32)),
                ('topics', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('instance_id', fields.IntField(null=True)),
                ('state', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease', fields.CharField(null=True, max_length=36)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=300)),
                ('last_duration_ms', fields.IntField(null=True)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'unique_together': (('webhook', 'seq'),), 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['webhook_id', 'instance_id', 'seq'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttemptRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.WebhookDeliveryRow', source_field='delivery_id', db_constraint=True, to_field='id', related_name='tries', on_delete=OnDelete.CASCADE)),
                ('n', fields.IntField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=300)),
                ('duration_ms', fields.IntField()),
                ('retry_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_attempt', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunPython(add_planner_cursor, drop_planner_cursor),
    ]
