from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_scoped_idempotency_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SignInAddressRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.UserRow', source_field='user_id', db_constraint=True, to_field='id', related_name='sign_in_addresses', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=64)),
                ('last_seen', fields.BigIntField()),
            ],
            options={'table': 'sign_in_address', 'app': 'models', 'unique_together': (('user', 'address'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignInAttemptRow',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200)),
                ('attempts', fields.IntField()),
                ('window_start', fields.BigIntField(db_index=True)),
            ],
            options={'table': 'sign_in_attempt', 'app': 'models', 'pk_attr': 'key'},
            bases=['Model'],
        ),
        ops.DeleteModel(name='SignInFailureRow'),
    ]
