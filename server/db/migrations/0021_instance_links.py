from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# The records an instance crossed into, one per later entity of its process; a record joins
# at most one instance of a process, as its own record or crossed into.

class Migration(migrations.Migration):
    dependencies = [('models', '0020_insight_months')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InstanceLinkRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance', fields.ForeignKeyField('models.InstanceRow', source_field='instance_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('record', fields.ForeignKeyField('models.RecordRow', source_field='record_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('process_id', fields.IntField()),
                ('entity', fields.CharField(max_length=64)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'instance_link', 'app': 'models', 'unique_together': (('instance', 'entity'), ('record', 'process_id')), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
