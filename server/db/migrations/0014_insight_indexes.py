# The index stuck instances are found by (server/db/insights.py): a process's instances by
# status and since when they are in their stage.
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0013_webhooks")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="InstanceRow",
            index=Index(fields=["process_id", "status", "active_since"]),
        ),
    ]
