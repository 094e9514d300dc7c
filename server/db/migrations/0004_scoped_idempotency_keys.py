from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0003_accounts')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='EventRow',
            name='idempotency_key',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='EventRow',
            name='request_hash',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddConstraint(
            model_name='EventRow',
            constraint=UniqueConstraint(fields=('actor', 'idempotency_key'), name=None),
        ),
    ]
