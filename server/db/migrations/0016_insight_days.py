# What the insights count per day (`insight_day`) and the pairs of stages a move forward
# goes between (`stage_ahead`), kept by triggers on both databases in the transaction of the
# change: an instance started, moved, migrated, ended or reactivated, a stay begun, a
# record given to another owner. The statements and what each kind counts are in
# server/db/insight_days.py. The pairs of the versions published before are written here
# from their definitions, then the counts are taken from the rows.
#
# On PostgreSQL, a change first takes a share lock on its record, so that a record given
# to another owner meanwhile moves the counts this change adds; its keys are written in
# order.
#
# A bulk load with triggers off takes the counts afresh after (`insight_days.recount`).
import json

from tortoise import migrations
from tortoise.migrations import operations as ops

from server.db import insight_days as days
from server.domain.insights import ahead

_CHANGED = ("process_version", "active_stage", "status", "started_at", "completed_at",
            "outcome", "outcome_reason")  # fmt: skip
_STAY_KINDS = ("reach", "advance", "move")


def _instance_update(postgres: bool) -> str:
    """Counts of the instance before out, after in; its stays' counts moved to its new
    version, if it has one."""
    parts = [
        (sql, -1)
        for sql in days.contributions(postgres, source=days.row("OLD"), kinds=("start", "end"))
    ]
    parts += [
        (sql, 1)
        for sql in days.contributions(postgres, source=days.row("NEW"), kinds=("start", "end"))
    ]
    migrated = "i.id = NEW.id AND OLD.process_version <> NEW.process_version"
    parts += [
        (sql, -1)
        for sql in days.contributions(
            postgres, where=migrated, version="OLD.process_version", kinds=_STAY_KINDS
        )
    ]
    parts += [(sql, 1) for sql in days.contributions(postgres, where=migrated, kinds=_STAY_KINDS)]
    return days.add(parts)


def _instance_insert(postgres: bool) -> str:
    return days.add(
        (sql, 1)
        for sql in days.contributions(postgres, source=days.row("NEW"), kinds=("start", "end"))
    )


def _stay_insert(postgres: bool) -> str:
    return days.add((sql, 1) for sql in days.stay_counts(postgres))


def _owner_update(postgres: bool) -> str:
    mine = "i.record_id = NEW.id"
    return days.add(
        [(sql, -1) for sql in days.contributions(postgres, where=mine, owner="OLD.owner")]
        + [(sql, 1) for sql in days.contributions(postgres, where=mine, owner="NEW.owner")]
    )


def _changed(new: str, old: str, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in _CHANGED)


def _on_instance(name: str, inserted: str, updated: str) -> str:
    """A PostgreSQL trigger function on instances: the record held still, then `inserted`
    or `updated` by what happened."""
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM record WHERE id = NEW.record_id FOR SHARE;
  IF TG_OP = 'INSERT' THEN
    {inserted};
  ELSE
    {updated};
  END IF;
  RETURN NULL;
END $$"""


def _postgres() -> list[str]:
    return [
        days.TABLE,
        days.AHEAD_TABLE,
        _on_instance("insight_day_instance", _instance_insert(True), _instance_update(True)),
        f"""
CREATE FUNCTION insight_day_stay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM record r JOIN instance i ON i.record_id = r.id
  WHERE i.id = NEW.instance_id FOR SHARE OF r;
  {_stay_insert(True)};
  RETURN NULL;
END $$""",
        f"""
CREATE FUNCTION insight_day_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_owner_update(True)};
  RETURN NULL;
END $$""",
        'CREATE TRIGGER "insight_day_instance_insert" AFTER INSERT ON "instance" FOR EACH ROW'
        " EXECUTE FUNCTION insight_day_instance()",
        'CREATE TRIGGER "insight_day_instance_update"'
        f' AFTER UPDATE OF {", ".join(_CHANGED)} ON "instance" FOR EACH ROW'
        f" WHEN ({_changed('NEW', 'OLD', 'IS DISTINCT FROM')})"
        " EXECUTE FUNCTION insight_day_instance()",
        'CREATE TRIGGER "insight_day_stay_insert" AFTER INSERT ON "stage_visit" FOR EACH ROW'
        " EXECUTE FUNCTION insight_day_stay()",
        'CREATE TRIGGER "insight_day_owner_update" AFTER UPDATE OF owner ON "record"'
        " FOR EACH ROW WHEN (OLD.owner IS DISTINCT FROM NEW.owner)"
        " EXECUTE FUNCTION insight_day_owner()",
    ]


def _sqlite() -> list[str]:
    return [
        days.TABLE,
        days.AHEAD_TABLE,
        "CREATE TRIGGER insight_day_instance_insert AFTER INSERT ON instance BEGIN "
        f"{_instance_insert(False)}; END",
        f"CREATE TRIGGER insight_day_instance_update AFTER UPDATE OF {', '.join(_CHANGED)}"
        f" ON instance WHEN {_changed('new', 'old', 'IS NOT')} BEGIN "
        f"{_instance_update(False)}; END",
        "CREATE TRIGGER insight_day_stay_insert AFTER INSERT ON stage_visit BEGIN "
        f"{_stay_insert(False)}; END",
        "CREATE TRIGGER insight_day_owner_update AFTER UPDATE OF owner ON record"
        f" WHEN old.owner IS NOT new.owner BEGIN {_owner_update(False)}; END",
    ]


REVERSE_POSTGRES = [
    'DROP TRIGGER IF EXISTS "insight_day_owner_update" ON "record"',
    'DROP TRIGGER IF EXISTS "insight_day_stay_insert" ON "stage_visit"',
    'DROP TRIGGER IF EXISTS "insight_day_instance_update" ON "instance"',
    'DROP TRIGGER IF EXISTS "insight_day_instance_insert" ON "instance"',
    "DROP FUNCTION IF EXISTS insight_day_owner()",
    "DROP FUNCTION IF EXISTS insight_day_stay()",
    "DROP FUNCTION IF EXISTS insight_day_instance()",
    'DROP TABLE IF EXISTS "stage_ahead"',
    'DROP TABLE IF EXISTS "insight_day"',
]
REVERSE_SQLITE = [
    "DROP TRIGGER IF EXISTS insight_day_owner_update",
    "DROP TRIGGER IF EXISTS insight_day_stay_insert",
    "DROP TRIGGER IF EXISTS insight_day_instance_update",
    "DROP TRIGGER IF EXISTS insight_day_instance_insert",
    'DROP TABLE IF EXISTS "stage_ahead"',
    'DROP TABLE IF EXISTS "insight_day"',
]


def pairs_of(definition: object) -> set[tuple[str, str]]:
    """The forward pairs of a stored process version's definition."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    stages = data.get("stages", []) if isinstance(data, dict) else []
    targets = {
        str(s["key"]): [str(b["to"]) for b in s.get("branches") or []]
        + ([str(s["next"])] if s.get("next") else [])
        for s in stages
        if isinstance(s, dict) and "key" in s
    }
    return ahead(targets)


async def add_insight_days(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in _postgres() if postgres else _sqlite():
        await client.execute_script(sql)
    rows = await client.execute_query_dict(
        'SELECT "process_id", "definition" FROM "process_version"'
    )
    pairs = sorted(
        {(row["process_id"], a, b) for row in rows for a, b in pairs_of(row["definition"])}
    )
    mark = (lambda n: f"${n}") if postgres else (lambda n: "?")
    for process_id, a, b in pairs:
        await client.execute_query(
            f'INSERT INTO "stage_ahead" ("process_id", "stage", "later")'
            f" VALUES ({mark(1)}, {mark(2)}, {mark(3)}) ON CONFLICT DO NOTHING",
            [process_id, a, b],
        )
    for sql in days.recount(postgres):
        await client.execute_script(sql)


async def drop_insight_days(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in REVERSE_POSTGRES if postgres else REVERSE_SQLITE:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [("models", "0015_insight_stay_indexes")]

    initial = False

    operations = [ops.RunPython(add_insight_days, drop_insight_days)]
