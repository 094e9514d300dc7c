from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProcessRow',
            name='draft',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='ProcessRow',
            name='draft_updated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ProcessRow',
            name='draft_updated_by',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='ProcessRow',
            name='draft_version',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='ProcessVersionRow',
            name='published_by',
            field=fields.CharField(default='system', db_default='system', max_length=200),
        ),
    ]
