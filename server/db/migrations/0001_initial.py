from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CounterRow',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('value', fields.BigIntField()),
            ],
            options={'table': 'counter', 'app': 'models', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EntityRow',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('name', fields.CharField(max_length=100)),
                ('fields_', fields.JSONField(source_field='fields', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'entity', 'app': 'models', 'pk_attr': 'key'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EventRow',
            fields=[
                ('seq', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=32)),
                ('actor', fields.CharField(max_length=200)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('record_id', fields.IntField(null=True, db_index=True)),
                ('instance_id', fields.IntField(null=True, db_index=True)),
                ('process_id', fields.IntField(null=True, db_index=True)),
                ('from_stage', fields.CharField(null=True, max_length=64)),
                ('to_stage', fields.CharField(null=True, max_length=64)),
                ('before', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('after', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('idempotency_key', fields.CharField(null=True, unique=True, max_length=200)),
            ],
            options={'table': 'event', 'app': 'models', 'pk_attr': 'seq'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProcessRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=100)),
                ('entity', fields.ForeignKeyField('models.EntityRow', source_field='entity_id', db_constraint=True, to_field='key', related_name='processes', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharField(max_length=16)),
                ('position', fields.IntField(default=0)),
                ('current_version', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'process', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProcessVersionRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('process', fields.ForeignKeyField('models.ProcessRow', source_field='process_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('definition', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'process_version', 'app': 'models', 'unique_together': (('process', 'number'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecordRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entity', fields.ForeignKeyField('models.EntityRow', source_field='entity_id', db_constraint=True, to_field='key', related_name='records', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=200)),
                ('owner', fields.CharField(db_index=True, max_length=200)),
                ('values', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('version', fields.IntField()),
                ('active_instance_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'record', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InstanceRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('record', fields.ForeignKeyField('models.RecordRow', source_field='record_id', db_constraint=True, to_field='id', related_name='instances', on_delete=OnDelete.CASCADE)),
                ('process', fields.ForeignKeyField('models.ProcessRow', source_field='process_id', db_constraint=True, to_field='id', related_name='instances', on_delete=OnDelete.RESTRICT)),
                ('process_version', fields.IntField()),
                ('status', fields.CharField(db_index=True, max_length=16)),
                ('active_stage', fields.CharField(db_index=True, max_length=64)),
                ('path', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('version', fields.IntField()),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('active_since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'instance', 'app': 'models', 'unique_together': (('record', 'process'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VisitRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance', fields.ForeignKeyField('models.InstanceRow', source_field='instance_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('n', fields.IntField()),
                ('stage', fields.CharField(max_length=64)),
                ('entered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('exited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('entered_by', fields.CharField(max_length=200)),
            ],
            options={'table': 'stage_visit', 'app': 'models', 'unique_together': (('instance', 'n'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunSQL(
            "INSERT INTO counter (name, value) VALUES ('event', 0)",
            reverse_sql="DELETE FROM counter WHERE name = 'event'",
        ),
    ]
