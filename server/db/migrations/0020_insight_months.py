# The insights' counts per month (`insight_month`) and the changes not folded into them yet
# (`insight_month_delta`), appended by triggers on `insight_day` in the transaction of each
# change. The statements, and how a fold moves deltas into the months, are in
# server/db/insight_months.py; the months of the days there before are taken here.
from tortoise import migrations
from tortoise.migrations import operations as ops

from server.db import insight_months as months


def _postgres() -> list[str]:
    return [
        *months.tables(True),
        "CREATE FUNCTION insight_month_day() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"  IF TG_OP = 'UPDATE' AND {months.same_key('IS DISTINCT FROM')} THEN\n"
        f"    {months.delta('NEW', 'NEW.n - OLD.n')};\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        f"  IF TG_OP <> 'INSERT' THEN {months.delta('OLD', '-OLD.n')}; END IF;\n"
        f"  IF TG_OP <> 'DELETE' THEN {months.delta('NEW', 'NEW.n')}; END IF;\n"
        "  RETURN NULL;\nEND $$",
        'CREATE TRIGGER "insight_month_written" AFTER INSERT OR DELETE ON "insight_day"'
        " FOR EACH ROW EXECUTE FUNCTION insight_month_day()",
        'CREATE TRIGGER "insight_month_rewritten" AFTER UPDATE ON "insight_day"'
        " FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION insight_month_day()",
    ]


def _sqlite() -> list[str]:
    same = months.same_key("IS NOT")
    return [
        *months.tables(False),
        "CREATE TRIGGER insight_month_added AFTER INSERT ON insight_day"
        f" BEGIN {months.delta('NEW', 'NEW.n')}; END",
        "CREATE TRIGGER insight_month_removed AFTER DELETE ON insight_day"
        f" BEGIN {months.delta('OLD', '-OLD.n')}; END",
        "CREATE TRIGGER insight_month_counted AFTER UPDATE ON insight_day"
        f" WHEN {same} AND OLD.n <> NEW.n BEGIN {months.delta('NEW', 'NEW.n - OLD.n')}; END",
        "CREATE TRIGGER insight_month_moved AFTER UPDATE ON insight_day"
        f" WHEN NOT ({same}) BEGIN {months.delta('OLD', '-OLD.n')};"
        f" {months.delta('NEW', 'NEW.n')}; END",
    ]


REVERSE_POSTGRES = [
    'DROP TRIGGER IF EXISTS "insight_month_rewritten" ON "insight_day"',
    'DROP TRIGGER IF EXISTS "insight_month_written" ON "insight_day"',
    "DROP FUNCTION IF EXISTS insight_month_day()",
    'DROP TABLE IF EXISTS "insight_month_delta"',
    'DROP TABLE IF EXISTS "insight_month"',
]
REVERSE_SQLITE = [
    "DROP TRIGGER IF EXISTS insight_month_moved",
    "DROP TRIGGER IF EXISTS insight_month_counted",
    "DROP TRIGGER IF EXISTS insight_month_removed",
    "DROP TRIGGER IF EXISTS insight_month_added",
    'DROP TABLE IF EXISTS "insight_month_delta"',
    'DROP TABLE IF EXISTS "insight_month"',
]


async def add_insight_months(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(_postgres() if postgres else _sqlite()), *months.recount()]:
        await client.execute_script(sql)


async def drop_insight_months(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in REVERSE_POSTGRES if postgres else REVERSE_SQLITE:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0019_pipeline_sums")]

    initial = False

    operations = [ops.RunPython(add_insight_months, drop_insight_months)]
