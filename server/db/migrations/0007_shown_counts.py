from tortoise import migrations
from tortoise.migrations import operations as ops

# How many records show an instance in each (entity, process, stage, status), and how many
# instances are in each (process, stage, status): the totalCount of the records list under
# a filter on the shown instance, and of the instances list, read from a few rows rather
# than counted over every match. Kept by triggers on both databases, in the transaction of the
# change: an instance inserted, moved, finished, abandoned or reactivated, a record's shown
# instance set or switched. Records
# and instances are never deleted, nor does a record change entity. On PostgreSQL each
# change writes its buckets in key order, so that two moves in opposite directions do not
# wait on each other's rows.
#
# A bulk load in one transaction would rewrite the same few count rows once per row (on
# PostgreSQL a row version each): load with triggers off, then take the counts afresh with
# RECOUNT, as bench/seed.py does.
#
# On SQLite, Tortoise counts the rows an UPDATE changed by the connection's total changes,
# which include the triggers' writes.
TABLE = (
    'CREATE TABLE "shown_count" ('
    '"entity_id" VARCHAR(64) NOT NULL, "process_id" INT NOT NULL,'
    ' "active_stage" VARCHAR(64) NOT NULL, "status" VARCHAR(16) NOT NULL,'
    ' "n" BIGINT NOT NULL,'
    ' PRIMARY KEY ("entity_id", "process_id", "active_stage", "status"))'
)
INSTANCE_TABLE = (
    'CREATE TABLE "instance_count" ('
    '"process_id" INT NOT NULL, "active_stage" VARCHAR(64) NOT NULL,'
    ' "status" VARCHAR(16) NOT NULL, "n" BIGINT NOT NULL,'
    ' PRIMARY KEY ("process_id", "active_stage", "status"))'
)
INSTANCE_BACKFILL = (
    'INSERT INTO "instance_count" ("process_id", "active_stage", "status", "n")'
    ' SELECT "process_id", "active_stage", "status", COUNT(*) FROM "instance"'
    ' GROUP BY "process_id", "active_stage", "status"'
)
BACKFILL = (
    'INSERT INTO "shown_count" ("entity_id", "process_id", "active_stage", "status", "n")'
    ' SELECT r."entity_id", i."process_id", i."active_stage", i."status", COUNT(*)'
    ' FROM "record" r JOIN "instance" i ON i."id" = r."active_instance_id"'
    ' GROUP BY r."entity_id", i."process_id", i."active_stage", i."status"'
)
# The counts taken afresh: after a bulk load made with the triggers off.
RECOUNT = (
    'DELETE FROM "shown_count"',
    'DELETE FROM "instance_count"',
    BACKFILL,
    INSTANCE_BACKFILL,
)
POSTGRES = [
    TABLE,
    # The buckets of a change, written in key order (a bucket's two deltas summed).
    """
CREATE FUNCTION shown_count_move(
  e VARCHAR, old_p INT, old_s VARCHAR, old_st VARCHAR, new_p INT, new_s VARCHAR, new_st VARCHAR
) RETURNS void LANGUAGE sql AS $$
  INSERT INTO "shown_count" AS c ("entity_id", "process_id", "active_stage", "status", "n")
  SELECT e, p, s, st, SUM(d)
  FROM (VALUES (old_p, old_s, old_st, -1), (new_p, new_s, new_st, 1)) AS b (p, s, st, d)
  WHERE p IS NOT NULL
  GROUP BY p, s, st
  ORDER BY p, s, st
  ON CONFLICT ("entity_id", "process_id", "active_stage", "status")
  DO UPDATE SET "n" = c."n" + EXCLUDED."n"
$$""",
    """
CREATE FUNCTION shown_count_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  shown_before instance%ROWTYPE;
  shown_after instance%ROWTYPE;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    SELECT * INTO shown_before FROM instance WHERE id = OLD.active_instance_id;
  END IF;
  SELECT * INTO shown_after FROM instance WHERE id = NEW.active_instance_id;
  PERFORM shown_count_move(
    NEW.entity_id, shown_before.process_id, shown_before.active_stage, shown_before.status,
    shown_after.process_id, shown_after.active_stage, shown_after.status);
  RETURN NULL;
END $$""",
    """
CREATE FUNCTION shown_count_instance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  entity VARCHAR;
BEGIN
  SELECT entity_id INTO entity FROM record
  WHERE id = NEW.record_id AND active_instance_id = NEW.id;
  IF entity IS NULL THEN
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM shown_count_move(
      entity, NULL, NULL, NULL, NEW.process_id, NEW.active_stage, NEW.status);
  ELSE
    PERFORM shown_count_move(
      entity, OLD.process_id, OLD.active_stage, OLD.status,
      NEW.process_id, NEW.active_stage, NEW.status);
  END IF;
  RETURN NULL;
END $$""",
    'CREATE TRIGGER "shown_count_record_insert" AFTER INSERT ON "record" FOR EACH ROW'
    " WHEN (NEW.active_instance_id IS NOT NULL) EXECUTE FUNCTION shown_count_record()",
    'CREATE TRIGGER "shown_count_record_update" AFTER UPDATE OF "active_instance_id"'
    ' ON "record" FOR EACH ROW'
    " WHEN (OLD.active_instance_id IS DISTINCT FROM NEW.active_instance_id)"
    " EXECUTE FUNCTION shown_count_record()",
    'CREATE TRIGGER "shown_count_instance_insert" AFTER INSERT ON "instance" FOR EACH ROW'
    " EXECUTE FUNCTION shown_count_instance()",
    'CREATE TRIGGER "shown_count_instance_update"'
    ' AFTER UPDATE OF "process_id", "active_stage", "status" ON "instance" FOR EACH ROW'
    " WHEN (OLD.process_id IS DISTINCT FROM NEW.process_id"
    " OR OLD.active_stage IS DISTINCT FROM NEW.active_stage"
    " OR OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION shown_count_instance()",
    BACKFILL,
    INSTANCE_TABLE,
    """
CREATE FUNCTION instance_count_instance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "instance_count" AS c ("process_id", "active_stage", "status", "n")
  SELECT p, s, st, SUM(d)
  FROM (VALUES (OLD.process_id, OLD.active_stage, OLD.status, -1),
               (NEW.process_id, NEW.active_stage, NEW.status, 1)) AS b (p, s, st, d)
  WHERE p IS NOT NULL
  GROUP BY p, s, st
  ORDER BY p, s, st
  ON CONFLICT ("process_id", "active_stage", "status")
  DO UPDATE SET "n" = c."n" + EXCLUDED."n";
  RETURN NULL;
END $$""",
    'CREATE TRIGGER "instance_count_insert" AFTER INSERT ON "instance" FOR EACH ROW'
    " EXECUTE FUNCTION instance_count_instance()",
    'CREATE TRIGGER "instance_count_update"'
    ' AFTER UPDATE OF "process_id", "active_stage", "status" ON "instance" FOR EACH ROW'
    " WHEN (OLD.process_id IS DISTINCT FROM NEW.process_id"
    " OR OLD.active_stage IS DISTINCT FROM NEW.active_stage"
    " OR OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION instance_count_instance()",
    INSTANCE_BACKFILL,
]
POSTGRES_REVERSE = [
    'DROP TRIGGER IF EXISTS "instance_count_update" ON "instance"',
    'DROP TRIGGER IF EXISTS "instance_count_insert" ON "instance"',
    "DROP FUNCTION IF EXISTS instance_count_instance()",
    'DROP TABLE IF EXISTS "instance_count"',
    'DROP TRIGGER IF EXISTS "shown_count_instance_update" ON "instance"',
    'DROP TRIGGER IF EXISTS "shown_count_instance_insert" ON "instance"',
    'DROP TRIGGER IF EXISTS "shown_count_record_update" ON "record"',
    'DROP TRIGGER IF EXISTS "shown_count_record_insert" ON "record"',
    "DROP FUNCTION IF EXISTS shown_count_instance()",
    "DROP FUNCTION IF EXISTS shown_count_record()",
    "DROP FUNCTION IF EXISTS"
    " shown_count_move(VARCHAR, INT, VARCHAR, VARCHAR, INT, VARCHAR, VARCHAR)",
    'DROP TABLE IF EXISTS "shown_count"',
]


def _add(entity: str, source: str, where: str, delta: int) -> str:
    """A statement of a SQLite trigger: `delta` to the bucket of the instance `i` of
    `source`, shown by a record of `entity`."""
    return (
        'INSERT INTO "shown_count" ("entity_id", "process_id", "active_stage", "status", "n")'
        f" SELECT {entity}, i.process_id, i.active_stage, i.status, {delta}"
        f" FROM {source} WHERE {where}"
        ' ON CONFLICT ("entity_id", "process_id", "active_stage", "status")'
        f' DO UPDATE SET "n" = "n" + {delta};'
    )


def _row(alias: str) -> str:
    """The bucket columns of the trigger's old or new instance, as a table `i`."""
    return (
        f"(SELECT {alias}.process_id AS process_id, {alias}.active_stage AS active_stage,"
        f" {alias}.status AS status) i"
    )


def _count(alias: str, delta: int) -> str:
    """A statement of a SQLite trigger: `delta` to the bucket of its old or new instance."""
    return (
        'INSERT INTO "instance_count" ("process_id", "active_stage", "status", "n")'
        f" VALUES ({alias}.process_id, {alias}.active_stage, {alias}.status, {delta})"
        ' ON CONFLICT ("process_id", "active_stage", "status")'
        f' DO UPDATE SET "n" = "n" + {delta};'
    )


_SHOWN = "r.id = new.record_id AND r.active_instance_id = new.id"
# SQLite runs one writer at a time: the order of the buckets does not matter there.
SQLITE = [
    TABLE,
    "CREATE TRIGGER shown_count_record_insert AFTER INSERT ON record"
    " WHEN new.active_instance_id IS NOT NULL BEGIN "
    + _add("new.entity_id", "instance i", "i.id = new.active_instance_id", 1)
    + " END",
    "CREATE TRIGGER shown_count_record_update AFTER UPDATE OF active_instance_id ON record"
    " WHEN old.active_instance_id IS NOT new.active_instance_id BEGIN "
    + _add("new.entity_id", "instance i", "i.id = old.active_instance_id", -1)
    + " "
    + _add("new.entity_id", "instance i", "i.id = new.active_instance_id", 1)
    + " END",
    "CREATE TRIGGER shown_count_instance_insert AFTER INSERT ON instance BEGIN "
    + _add("r.entity_id", f"record r, {_row('new')}", _SHOWN, 1)
    + " END",
    "CREATE TRIGGER shown_count_instance_update"
    " AFTER UPDATE OF process_id, active_stage, status ON instance"
    " WHEN old.process_id IS NOT new.process_id OR old.active_stage IS NOT new.active_stage"
    " OR old.status IS NOT new.status BEGIN "
    + _add("r.entity_id", f"record r, {_row('old')}", _SHOWN, -1)
    + " "
    + _add("r.entity_id", f"record r, {_row('new')}", _SHOWN, 1)
    + " END",
    BACKFILL,
    INSTANCE_TABLE,
    "CREATE TRIGGER instance_count_insert AFTER INSERT ON instance BEGIN "
    + _count("new", 1)
    + " END",
    "CREATE TRIGGER instance_count_update"
    " AFTER UPDATE OF process_id, active_stage, status ON instance"
    " WHEN old.process_id IS NOT new.process_id OR old.active_stage IS NOT new.active_stage"
    " OR old.status IS NOT new.status BEGIN "
    + _count("old", -1)
    + " "
    + _count("new", 1)
    + " END",
    INSTANCE_BACKFILL,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS instance_count_update",
    "DROP TRIGGER IF EXISTS instance_count_insert",
    'DROP TABLE IF EXISTS "instance_count"',
    "DROP TRIGGER IF EXISTS shown_count_instance_update",
    "DROP TRIGGER IF EXISTS shown_count_instance_insert",
    "DROP TRIGGER IF EXISTS shown_count_record_update",
    "DROP TRIGGER IF EXISTS shown_count_record_insert",
    'DROP TABLE IF EXISTS "shown_count"',
]


async def _run(schema_editor, postgres, sqlite):
    client = schema_editor.client
    for sql in postgres if client.capabilities.dialect == "postgres" else sqlite:
        await client.execute_script(sql)


async def add_shown_counts(apps, schema_editor):
    await _run(schema_editor, POSTGRES, SQLITE)


async def drop_shown_counts(apps, schema_editor):
    await _run(schema_editor, POSTGRES_REVERSE, SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [('models', '0006_record_list_indexes')]

    initial = False

    operations = [ops.RunPython(add_shown_counts, drop_shown_counts)]
