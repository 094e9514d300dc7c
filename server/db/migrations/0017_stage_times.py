# Times spent in stages (`stage_time`) and their counts per month and bucket
# (`stage_time_month`), kept by triggers on both databases in the transaction of the
# change: a stay ended, an instance finished or reactivated, an instance migrated to
# another version, a record given to another owner. The statements, and what each row holds, are in server/db/stage_times.py; the
# rows and counts of the stays ended before are taken here from the stays.
#
# On PostgreSQL, a stay's end first takes a share lock on its record, so that a record
# given to another owner meanwhile moves the row this change adds.
from tortoise import migrations
from tortoise.migrations import operations as ops

from server.db import stage_times as times

_ENDED = "OLD.exited_at IS NULL AND NEW.exited_at IS NOT NULL"
_RECORD = "IN (SELECT id FROM instance WHERE record_id = NEW.id)"
_TIMES = ("status", "started_at", "completed_at")


def _times_changed(distinct: str) -> str:
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in _TIMES)
    return f"({changed}) AND (OLD.status = 'FINISHED' OR NEW.status = 'FINISHED')"


def _owner(postgres: bool) -> list[str]:
    return times.moved(postgres, instances=_RECORD, column="owner", old="OLD.owner",
                       new="NEW.owner")  # fmt: skip


def _version(postgres: bool) -> list[str]:
    return times.moved(
        postgres, instances="= NEW.id", column="version", old="OLD.process_version",
        new="NEW.process_version",
    )  # fmt: skip


def _function(name: str, body: list[str], lock: str = "") -> str:
    statements = "".join(f"  {sql};\n" for sql in body)
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{lock}"
        f"{statements}  RETURN NULL;\nEND $$"
    )


def _postgres() -> list[str]:
    lock = (
        "  PERFORM 1 FROM record r JOIN instance i ON i.record_id = r.id"
        " WHERE i.id = NEW.instance_id FOR SHARE OF r;\n"
    )
    held = "  PERFORM 1 FROM record WHERE id = NEW.record_id FOR SHARE;\n"
    return [
        *times.tables(True),
        _function("stage_time_stay", times.stay_ended(True), lock),
        _function("stage_time_cycle", times.instance_changed(True), held),
        _function("stage_time_version", _version(True)),
        _function("stage_time_owner", _owner(True)),
        'CREATE TRIGGER "stage_time_stay_insert" AFTER INSERT ON "stage_visit" FOR EACH ROW'
        " WHEN (NEW.exited_at IS NOT NULL) EXECUTE FUNCTION stage_time_stay()",
        'CREATE TRIGGER "stage_time_stay_update" AFTER UPDATE OF exited_at ON "stage_visit"'
        f" FOR EACH ROW WHEN ({_ENDED}) EXECUTE FUNCTION stage_time_stay()",
        'CREATE TRIGGER "stage_time_cycle_insert" AFTER INSERT ON "instance" FOR EACH ROW'
        " WHEN (NEW.status = 'FINISHED') EXECUTE FUNCTION stage_time_cycle()",
        f'CREATE TRIGGER "stage_time_cycle_update" AFTER UPDATE OF {", ".join(_TIMES)}'
        f' ON "instance" FOR EACH ROW WHEN ({_times_changed("IS DISTINCT FROM")})'
        " EXECUTE FUNCTION stage_time_cycle()",
        'CREATE TRIGGER "stage_time_version" AFTER UPDATE OF process_version ON "instance"'
        " FOR EACH ROW WHEN (OLD.process_version <> NEW.process_version)"
        " EXECUTE FUNCTION stage_time_version()",
        'CREATE TRIGGER "stage_time_owner" AFTER UPDATE OF owner ON "record" FOR EACH ROW'
        " WHEN (OLD.owner IS DISTINCT FROM NEW.owner) EXECUTE FUNCTION stage_time_owner()",
    ]


def _sqlite_trigger(name: str, on: str, when: str, body: list[str]) -> str:
    statements = "".join(f"{sql}; " for sql in body)
    return f"CREATE TRIGGER {name} AFTER {on} WHEN {when} BEGIN {statements}END"


def _sqlite() -> list[str]:
    stay, cycle = times.stay_ended(False), times.instance_changed(False)
    return [
        *times.tables(False),
        _sqlite_trigger("stage_time_cycle_insert", "INSERT ON instance",
                        "new.status = 'FINISHED'", cycle),  # fmt: skip
        _sqlite_trigger("stage_time_cycle_update", f"UPDATE OF {', '.join(_TIMES)} ON instance",
                        _times_changed("IS NOT"), cycle),  # fmt: skip
        _sqlite_trigger(
            "stage_time_stay_insert", "INSERT ON stage_visit", "new.exited_at IS NOT NULL", stay
        ),
        _sqlite_trigger("stage_time_stay_update", "UPDATE OF exited_at ON stage_visit",
                        _ENDED, stay),  # fmt: skip
        _sqlite_trigger(
            "stage_time_version", "UPDATE OF process_version ON instance",
            "old.process_version <> new.process_version", _version(False),
        ),  # fmt: skip
        _sqlite_trigger("stage_time_owner", "UPDATE OF owner ON record",
                        "old.owner IS NOT new.owner", _owner(False)),  # fmt: skip
    ]


REVERSE_POSTGRES = [
    'DROP TRIGGER IF EXISTS "stage_time_owner" ON "record"',
    'DROP TRIGGER IF EXISTS "stage_time_version" ON "instance"',
    'DROP TRIGGER IF EXISTS "stage_time_cycle_update" ON "instance"',
    'DROP TRIGGER IF EXISTS "stage_time_cycle_insert" ON "instance"',
    'DROP TRIGGER IF EXISTS "stage_time_stay_update" ON "stage_visit"',
    'DROP TRIGGER IF EXISTS "stage_time_stay_insert" ON "stage_visit"',
    "DROP FUNCTION IF EXISTS stage_time_owner()",
    "DROP FUNCTION IF EXISTS stage_time_version()",
    "DROP FUNCTION IF EXISTS stage_time_cycle()",
    "DROP FUNCTION IF EXISTS stage_time_stay()",
    'DROP TABLE IF EXISTS "stage_time_month"',
    'DROP TABLE IF EXISTS "stage_time"',
]
REVERSE_SQLITE = [
    "DROP TRIGGER IF EXISTS stage_time_owner",
    "DROP TRIGGER IF EXISTS stage_time_version",
    "DROP TRIGGER IF EXISTS stage_time_cycle_update",
    "DROP TRIGGER IF EXISTS stage_time_cycle_insert",
    "DROP TRIGGER IF EXISTS stage_time_stay_update",
    "DROP TRIGGER IF EXISTS stage_time_stay_insert",
    'DROP TABLE IF EXISTS "stage_time_month"',
    'DROP TABLE IF EXISTS "stage_time"',
]


async def add_stage_times(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in [*(_postgres() if postgres else _sqlite()), *times.recount(postgres)]:
        await client.execute_script(sql)


async def drop_stage_times(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in REVERSE_POSTGRES if postgres else REVERSE_SQLITE:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0016_insight_days")]

    initial = False

    operations = [ops.RunPython(add_stage_times, drop_stage_times)]
