from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

# Record names searched by substring through the database's own trigram index: pg_trgm's GIN
# index on the very expression the search compares (UPPER(CAST(name AS VARCHAR))) on
# PostgreSQL; an FTS5 table with the trigram tokenizer, kept by triggers, on SQLite.
# On SQLite, Tortoise counts the rows an UPDATE changed by the connection's total changes,
# which include the triggers' writes: a rename counts more than one row.
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    'CREATE INDEX "record_name_trgm" ON "record"'
    ' USING gin ((UPPER(CAST("name" AS VARCHAR))) gin_trgm_ops)',
]
POSTGRES_REVERSE = ['DROP INDEX IF EXISTS "record_name_trgm"']
SQLITE = [
    "CREATE VIRTUAL TABLE record_name USING fts5("
    "name, content='record', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER record_name_insert AFTER INSERT ON record BEGIN"
    " INSERT INTO record_name (rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER record_name_delete AFTER DELETE ON record BEGIN"
    " INSERT INTO record_name (record_name, rowid, name) VALUES ('delete', old.id, old.name);"
    " END",
    "CREATE TRIGGER record_name_update AFTER UPDATE OF name ON record"
    " WHEN old.name IS NOT new.name BEGIN"
    " INSERT INTO record_name (record_name, rowid, name) VALUES ('delete', old.id, old.name);"
    " INSERT INTO record_name (rowid, name) VALUES (new.id, new.name); END",
    "INSERT INTO record_name (record_name) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS record_name_update",
    "DROP TRIGGER IF EXISTS record_name_delete",
    "DROP TRIGGER IF EXISTS record_name_insert",
    "DROP TABLE IF EXISTS record_name",
]


async def _run(schema_editor, postgres, sqlite):
    client = schema_editor.client
    for sql in postgres if client.capabilities.dialect == "postgres" else sqlite:
        await client.execute_script(sql)


async def add_name_search(apps, schema_editor):
    await _run(schema_editor, POSTGRES, SQLITE)


async def drop_name_search(apps, schema_editor):
    await _run(schema_editor, POSTGRES_REVERSE, SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [('models', '0005_sign_in_attempts')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='InstanceRow',
            index=Index(fields=['process_id', 'active_stage', 'status', 'id']),
        ),
        ops.AddIndex(
            model_name='InstanceRow',
            index=Index(fields=['status', 'id']),
        ),
        ops.RunPython(add_name_search, drop_name_search),
    ]
