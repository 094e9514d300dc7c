"""A history made in memory, stored in a few statements: its ids and seqs taken first,
then its records, instances with their stays, and events written as they ended up.

The rows are those the store's writes would have left after the same changes one by one
(server/db/store.py): the same mapping of values to columns, and event seqs taken from
the same counter (SQLite) or sequence (PostgreSQL), gap-free. The count tables follow
through their triggers (migration 0007).
"""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.connection import get_connection

from server.db import mapping, store
from server.db.models import EventRow, InstanceLinkRow, InstanceRow, RecordRow, VisitRow
from server.domain.events import Event
from server.domain.instance import Instance
from server.domain.record import Record

_BATCH = 200


def _postgres() -> bool:
    return bool(get_connection("default").capabilities.dialect == "postgres")


async def next_ids(table: str, count: int) -> list[int]:
    """Inside a transaction: `count` new ids of `table` ("record" or "instance"), ascending."""
    assert table in ("record", "instance")
    conn = get_connection("default")
    if _postgres():
        rows = await conn.execute_query_dict(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id"
            " FROM generate_series(1, $1)",
            [count],
        )
        return sorted(int(row["id"]) for row in rows)
    # SQLite runs one writer at a time: the ids after the largest are free.
    rows = await conn.execute_query_dict(f'SELECT COALESCE(MAX("id"), 0) AS id FROM "{table}"')
    first = int(rows[0]["id"]) + 1
    return list(range(first, first + count))


async def next_seqs(count: int) -> list[int]:
    """Inside a transaction: the next `count` event seqs, ascending, as `append_event` takes
    them one at a time."""
    conn = get_connection("default")
    if _postgres():
        rows = await conn.execute_query_dict(
            "SELECT stageflow_next_seq() AS seq FROM generate_series(1, $1)", [count]
        )
        return sorted(int(row["seq"]) for row in rows)
    rows = await conn.execute_query_dict(
        "UPDATE counter SET value = value + ? WHERE name = 'event' RETURNING value", [count]
    )
    last = int(rows[0]["value"])
    return list(range(last - count + 1, last + 1))


async def load(
    records: Sequence[Record],
    instances: Sequence[Instance],
    events: Sequence[Event],
    *,
    links: Sequence[tuple[Instance, Record]] = (),
) -> None:
    """Inside a transaction: new records, their instances and stays, the records the
    instances crossed into (`links`), and numbered events, all with their ids taken
    (`next_ids`, `next_seqs`)."""
    await RecordRow.bulk_create(
        [
            RecordRow(
                id=r.id,
                entity_id=r.entity,
                created_at=r.created_at,
                # Set once the instances are stored, so that the shown counts follow.
                **{**mapping.record_columns(r), "active_instance_id": None},
            )
            for r in records
        ],
        batch_size=_BATCH,
    )
    await InstanceRow.bulk_create(
        [
            InstanceRow(
                id=i.id,
                record_id=i.record_id,
                process_id=i.process_id,
                started_at=i.started_at,
                **mapping.instance_columns(i),
            )
            for i in instances
        ],
        batch_size=_BATCH,
    )
    await VisitRow.bulk_create(
        # Every instance has its id taken already (`next_ids`).
        [row for i in instances for row in store.visit_rows(i.id, i.visits)],  # type: ignore[arg-type]
        batch_size=_BATCH,
    )
    await InstanceLinkRow.bulk_create(
        [
            InstanceLinkRow(
                instance_id=i.id,
                record_id=r.id,
                process_id=i.process_id,
                entity=r.entity,
                linked_at=r.created_at,
            )
            for i, r in links
        ],
        batch_size=_BATCH,
    )
    for record in records:
        if record.active_instance_id is not None:
            await RecordRow.filter(id=record.id).update(
                active_instance_id=record.active_instance_id
            )
    await EventRow.bulk_create(
        [
            EventRow(
                seq=e.seq,
                kind=e.kind.value,
                actor=e.actor,
                at=e.at,
                record_id=e.record_id,
                instance_id=e.instance_id,
                process_id=e.process_id,
                from_stage=e.from_stage,
                to_stage=e.to_stage,
                before=e.before,
                after=e.after,
            )
            for e in events
        ],
        batch_size=_BATCH,
    )
