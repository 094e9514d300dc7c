from tortoise import migrations
from tortoise.migrations import operations as ops

# The feed's read narrowed to some kinds of event: a worker that no subscription follows
# reads only the kinds what it keeps depends on (a process published, a token revoked...),
# and still moves its cursor to the horizon. NULL kinds: every event, as before.
POSTGRES = [
    "DROP FUNCTION IF EXISTS stageflow_events_after(BIGINT, INT)",
    """
CREATE FUNCTION stageflow_events_after(from_seq BIGINT, most INT, kinds TEXT[])
RETURNS TABLE (horizon BIGINT, e event) LANGUAGE plpgsql AS $$
DECLARE
  top BIGINT := stageflow_horizon();
BEGIN
  RETURN QUERY SELECT top, ev FROM event ev WHERE ev.seq > from_seq AND ev.seq <= top
    AND (kinds IS NULL OR ev.kind = ANY (kinds))
    ORDER BY ev.seq LIMIT most;
  IF NOT FOUND THEN
    RETURN QUERY SELECT top, NULL::event;
  END IF;
END $$
""",
]
POSTGRES_REVERSE = [
    "DROP FUNCTION IF EXISTS stageflow_events_after(BIGINT, INT, TEXT[])",
    """
CREATE FUNCTION stageflow_events_after(from_seq BIGINT, most INT)
RETURNS TABLE (horizon BIGINT, e event) LANGUAGE plpgsql AS $$
DECLARE
  top BIGINT := stageflow_horizon();
BEGIN
  RETURN QUERY SELECT top, ev FROM event ev WHERE ev.seq > from_seq AND ev.seq <= top
    ORDER BY ev.seq LIMIT most;
  IF NOT FOUND THEN
    RETURN QUERY SELECT top, NULL::event;
  END IF;
END $$
""",
]


async def _run(schema_editor, postgres):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for sql in postgres:
            await client.execute_script(sql)


async def add_feed_kinds(apps, schema_editor):
    await _run(schema_editor, POSTGRES)


async def drop_feed_kinds(apps, schema_editor):
    await _run(schema_editor, POSTGRES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [('models', '0008_event_sequence')]

    initial = False

    operations = [ops.RunPython(add_feed_kinds, drop_feed_kinds)]
