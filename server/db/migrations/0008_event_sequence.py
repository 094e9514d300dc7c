from tortoise import migrations
from tortoise.migrations import operations as ops

# On PostgreSQL, events are numbered from a sequence, so that changes on different
# instances commit side by side instead of queueing behind one counter row until commit.
# Numbers are then taken in one order and committed in another: a reader must never see
# seq n before every smaller seq is committed or rolled back. The read horizon makes it so:
#
# - a writer takes a shared advisory lock (EVENTS, 0), held until its transaction ends,
#   before it takes its number (stageflow_next_seq, called as the event row is written);
# - a reader notes the last number taken, then waits for the same lock exclusively, that
#   is until every writer that holds one has ended, and lets it go at once (the lock is
#   taken in a block that is rolled back): each number up to the one noted is now
#   committed or will never be (stageflow_horizon);
# - every read that moves a cursor stops at the horizon (stageflow_events_after reads
#   the rows in a statement of its own after the wait, so it sees what committed meanwhile),
#   and the feed's cursor moves on to the horizon, past numbers never used.
#
# A rolled-back change leaves its number unused: seqs increase but may skip. SQLite runs
# one writer at a time and keeps numbering from the counter row.
EVENTS = 1398035270  # 'SFEV': the advisory lock's first key

POSTGRES = [
    "CREATE SEQUENCE event_seq AS BIGINT",
    # Numbering goes on from the counter (a new database starts at 1).
    "SELECT setval('event_seq', GREATEST(value, 1), value > 0) FROM counter"
    " WHERE name = 'event'",
    f"""
CREATE FUNCTION stageflow_next_seq() RETURNS BIGINT LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared({EVENTS}, 0);
  RETURN nextval('event_seq');
END $$
""",
    # The last seq taken, committed or not: how far the feed has to go, without waiting.
    """
CREATE FUNCTION stageflow_newest_seq() RETURNS BIGINT LANGUAGE sql AS $$
  SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM event_seq
$$
""",
    f"""
CREATE FUNCTION stageflow_horizon() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  top BIGINT;
BEGIN
  top := stageflow_newest_seq();
  BEGIN
    PERFORM pg_advisory_xact_lock({EVENTS}, 0);
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'stageflow horizon passed';
  EXCEPTION WHEN raise_exception THEN
    NULL;  -- rolled back with the block, the lock is let go at once
  END;
  RETURN top;
END $$
""",
    # The feed's read: the horizon, and the events after a seq up to it (or one row of the
    # horizon alone when there are none).
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
POSTGRES_REVERSE = [
    "DROP FUNCTION IF EXISTS stageflow_newest_seq()",
    "DROP FUNCTION IF EXISTS stageflow_events_after(BIGINT, INT)",
    "DROP FUNCTION IF EXISTS stageflow_horizon()",
    "DROP FUNCTION IF EXISTS stageflow_next_seq()",
    "UPDATE counter SET value = (SELECT COALESCE(MAX(seq), 0) FROM event) WHERE name = 'event'",
    "DROP SEQUENCE IF EXISTS event_seq",
]


async def _run(schema_editor, postgres):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for sql in postgres:
            await client.execute_script(sql)


async def add_event_sequence(apps, schema_editor):
    await _run(schema_editor, POSTGRES)


async def drop_event_sequence(apps, schema_editor):
    await _run(schema_editor, POSTGRES_REVERSE)


class Migration(migrations.Migration):
    dependencies = [('models', '0007_shown_counts')]

    initial = False

    operations = [ops.RunPython(add_event_sequence, drop_event_sequence)]
