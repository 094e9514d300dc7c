from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# How an instance ended: the outcome its process declares, the reason given, and who
# finished or abandoned it. Instances finished before stay without an outcome.


class Migration(migrations.Migration):
    dependencies = [('models', '0009_feed_kinds')]

    initial = False

    operations = [
        ops.AddField(
            model_name='InstanceRow',
            name='outcome',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='InstanceRow',
            name='outcome_reason',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddField(
            model_name='InstanceRow',
            name='completed_by',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
