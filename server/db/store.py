"""Reads and compare-and-set writes of records, instances and events."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import asyncpg
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from server.db import mapping, transaction
from server.db.models import EventRow, InstanceLinkRow, InstanceRow, RecordRow, VisitRow
from server.db.where import Where, bucket_sum
from server.domain.errors import NotFound, VersionConflict
from server.domain.events import WEBHOOK_KINDS, Event, EventKind
from server.domain.instance import Instance, InstanceStatus, Visit
from server.domain.record import Record

R = TypeVar("R")
V = TypeVar("V")
M = TypeVar("M", bound=Model)

_MAX_ID = 2**31 - 1  # the id columns are 32-bit integers


@dataclass(frozen=True)
class Page:
    items: Sequence[object]
    has_next: bool
    # Counting every match costs a scan of them: done only for a client that asks.
    count: Callable[[], Awaitable[int]]
    # Rows read with the items, by id (an instances page: their records).
    records: Mapping[int, Record] = field(default_factory=dict)


def cursor_for(id: int) -> str:
    return base64.urlsafe_b64encode(f"c:{id}".encode()).decode()


def id_from_cursor(cursor: str | None) -> int:
    """The id a cursor given out by `cursor_for` stands for; any other text names nothing."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except ValueError:  # not ASCII, not base64 (binascii.Error is a ValueError)
        text = ""
    digits = text.removeprefix("c:")
    if not (text.startswith("c:") and digits.isdigit() and len(digits) <= 10):
        raise NotFound("Cursor", cursor[:40])
    id = int(digits)
    if id > _MAX_ID or cursor_for(id) != cursor:  # past the id column, or not as given out
        raise NotFound("Cursor", cursor[:40])
    return id


# Records


async def get_record(id: int, *, visible: Visible = None) -> Record:
    """A record; given `visible`, only one the user may see, else NotFound."""
    row = await visible_records(visible).get_or_none(id=id)
    if row is None:
        raise NotFound("Record", id)
    return mapping.record(row)


async def records_by_id(ids: Iterable[int]) -> dict[int, Record]:
    rows = await RecordRow.filter(id__in=list(set(ids)))
    return {row.id: mapping.record(row) for row in rows}


async def insert_record(value: Record) -> Record:
    row = await RecordRow.create(
        entity_id=value.entity, created_at=value.created_at, **mapping.record_columns(value)
    )
    return replace(value, id=row.id)


async def save_record(old: Record, new: Record) -> None:
    """Write `new` only if the row is still at `old.version`."""
    count = await RecordRow.filter(id=old.id, version=old.version).update(
        **mapping.record_columns(new)
    )
    # Not `!= 1`: on SQLite the count includes what the name index's triggers wrote.
    if count == 0:
        await _conflict(RecordRow, "Record", old.id, old.version)


# What a user may see: records and instances of the processes they may run.

# Ids of the processes a user may run; None: every process (an admin).
Visible = set[int] | None


def visible_instances(visible: Visible) -> QuerySet[InstanceRow]:
    if visible is None:
        return InstanceRow.all()
    return InstanceRow.filter(process_id__in=sorted(visible))


def visible_records(visible: Visible) -> QuerySet[RecordRow]:
    """Records with no process yet, or with a run of a process the user may run."""
    if visible is None:
        return RecordRow.all()
    runs = visible_instances(visible).values("record_id")
    crossed = InstanceLinkRow.filter(process_id__in=sorted(visible)).values("record_id")
    return RecordRow.filter(
        Q(active_instance_id=None) | Q(id__in=Subquery(runs)) | Q(id__in=Subquery(crossed))
    )


def visible_events(visible: Visible, *, designs: bool = False) -> QuerySet[EventRow]:
    """Events of visible instances and records, and of processes the user may run; to
    designers (`designs`), also the events about webhooks.

    Events about accounts concern no record or process: only admins see them.
    """
    if visible is None:
        return EventRow.all()
    instances = visible_instances(visible).values("id")
    records = visible_records(visible).values("id")
    shown = (
        Q(instance_id__in=Subquery(instances))
        | Q(instance_id=None, record_id__in=Subquery(records))
        | Q(instance_id=None, record_id=None, process_id__in=sorted(visible))
    )
    if designs:
        shown |= Q(kind__in=sorted(k.value for k in WEBHOOK_KINDS))
    return EventRow.filter(shown)


# Instances


@dataclass(frozen=True)
class InstanceFilter:
    process_id: int | None = None
    stage: str | None = None
    status: InstanceStatus | None = None
    # Only instances past their active stay's due as of `now` (True), or only others (False).
    overdue: bool | None = None
    now: dt.datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.lookups()) or self.overdue is not None

    @property
    def counted(self) -> bool:
        """Whether the counts triggers keep (migration 0007) answer for this filter."""
        return self.overdue is None

    def late(self) -> Q:
        """Active and past the active stay's due, as of `now`."""
        assert self.now is not None
        return Q(status=InstanceStatus.ACTIVE.value, due_at__lte=self.now.astimezone(dt.UTC))

    def on_time(self) -> Q:
        """Not `late`: not active, no due, or due after `now`."""
        assert self.now is not None
        return (
            Q(status__not=InstanceStatus.ACTIVE.value)
            | Q(due_at__isnull=True)
            | Q(due_at__gt=self.now.astimezone(dt.UTC))
        )

    def lookups(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.process_id is not None:
            found["process_id"] = self.process_id
        if self.stage:
            found["active_stage"] = self.stage
        if self.status is not None:
            found["status"] = self.status.value
        return found


async def get_instance(id: int, *, visible: Visible = None) -> Instance:
    """An instance, without its stays (`visits_of` reads them); given `visible`, only one the
    user may see, else NotFound."""
    row = await visible_instances(visible).get_or_none(id=id)
    if row is None:
        raise NotFound("Instance", id)
    return mapping.instance(row)


def _columns(model: type[Model]) -> tuple[str, ...]:
    meta = model._meta
    found = (*meta.db_native_fields, *meta.db_default_fields, *meta.db_complex_fields)
    return tuple(column for column, _, _ in found)


# An instance and its record.
_JOINED = 'FROM "instance" i JOIN "record" r ON r."id" = i."record_id"'


@functools.cache
def _instance_and_record() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The process bar's read, its columns listed once (the models are known once Tortoise
    is initialised): the instance's as `i_…`, its record's as `r_…`."""
    instance, record = _columns(InstanceRow), _columns(RecordRow)
    columns = ", ".join(
        [f'i."{c}" AS "i_{c}"' for c in instance] + [f'r."{c}" AS "r_{c}"' for c in record]
    )
    return f"SELECT {columns} {_JOINED}", instance, record


async def get_instance_and_record(id: int, *, visible: Visible = None) -> tuple[Instance, Record]:
    """`get_instance`, and the instance's record read in the same statement."""
    return await _instance_with_record(id, visible, lock=False)


async def lock_instance_and_record(id: int, *, visible: Visible = None) -> tuple[Instance, Record]:
    """Inside a transaction: the instance and its record, without its stays, both locked
    until commit in one statement (on PostgreSQL `FOR UPDATE` of a join locks the rows in
    the order of its FROM: instance first, then record, as every taker of both)."""
    return await _instance_with_record(id, visible, lock=True)


async def _instance_with_record(
    id: int, visible: Visible, *, lock: bool
) -> tuple[Instance, Record]:
    if not 0 < id <= _MAX_ID:
        raise NotFound("Instance", id)
    conn = get_connection("default")
    where = Where(postgres=conn.capabilities.dialect == "postgres")
    where.conditions.append(f'i."id" = {where.value(id)}')
    if visible is not None:  # only a row the user may see is read, or locked
        where.conditions.append(f'i."process_id" IN ({where.values(visible)})')
    select, instance_columns, record_columns = _instance_and_record()
    lock_clause = " FOR UPDATE" if lock and where.postgres else ""
    rows = await conn.execute_query_dict(f"{select} WHERE {where.sql()}{lock_clause}", where.params)
    if not rows:
        raise NotFound("Instance", id)
    row = rows[0]
    instance = InstanceRow._init_from_db(**{c: row[f"i_{c}"] for c in instance_columns})
    record = RecordRow._init_from_db(**{c: row[f"r_{c}"] for c in record_columns})
    return mapping.instance(instance), mapping.record(record)


async def bar_versions(id: int) -> tuple[int, int, int] | None:
    """The versions of an instance and of its record, and its process: what a process bar
    built from them depends on."""
    conn = get_connection("default")
    mark = "$1" if conn.capabilities.dialect == "postgres" else "?"
    rows = await conn.execute_query_dict(
        f'SELECT i."version" AS "i", r."version" AS "r", i."process_id" AS "p" {_JOINED}'
        f' WHERE i."id" = {mark}',
        [id],
    )
    return (rows[0]["i"], rows[0]["r"], rows[0]["p"]) if rows else None


async def lock_instance(id: int, *, visible: Visible = None, stays: bool = True) -> Instance:
    """Inside a transaction: the instance, locked until commit (PostgreSQL; SQLite runs one
    transaction at a time), so the decision made on it holds when it is written. With
    `stays`, its stage visits too, which a move writes; given `visible`, only one the user
    may see, else NotFound."""
    row = await visible_instances(visible).select_for_update().get_or_none(id=id)
    if row is None:
        raise NotFound("Instance", id)
    return await _with_visits(row) if stays else mapping.instance(row)


async def lock_record(id: int) -> Record:
    """Inside a transaction: the record, locked until commit.

    Locks are taken instance first, then record, in every transaction that takes both.
    """
    row = await RecordRow.select_for_update().get_or_none(id=id)
    if row is None:
        raise NotFound("Record", id)
    return mapping.record(row)


async def links_of(instance_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """The records each instance crossed into, by entity (its own record is not among them)."""
    rows = await InstanceLinkRow.filter(instance_id__in=list(set(instance_ids))).values_list(
        "instance_id", "entity", "record_id"
    )
    found: dict[int, dict[str, int]] = {}
    for instance_id, entity, record_id in rows:
        found.setdefault(instance_id, {})[entity] = record_id
    return found


async def linked_instance(record_id: int, process_id: int) -> int | None:
    """The instance of the process a record was crossed into, if any."""
    row = await InstanceLinkRow.get_or_none(record_id=record_id, process_id=process_id)
    return row.instance_id if row is not None else None


async def crossed_into(record_ids: Iterable[int]) -> dict[int, list[int]]:
    """The instances each record was crossed into."""
    rows = await InstanceLinkRow.filter(record_id__in=list(set(record_ids))).values_list(
        "record_id", "instance_id"
    )
    found: dict[int, list[int]] = {}
    for record_id, instance_id in rows:
        found.setdefault(record_id, []).append(instance_id)
    return found


async def insert_link(instance: Instance, record: Record, *, now: dt.datetime) -> None:
    """Cross an instance into a record (inside the crossing's transaction)."""
    assert instance.id is not None and record.id is not None
    await InstanceLinkRow.create(
        instance_id=instance.id,
        record_id=record.id,
        process_id=instance.process_id,
        entity=record.entity,
        linked_at=now,
    )


async def lock_records(ids: Iterable[int]) -> dict[int, Record]:
    """Inside a transaction: records locked until commit, in id order (as every taker of
    several), after the instance they are on."""
    rows = await RecordRow.filter(id__in=sorted(set(ids))).order_by("id").select_for_update()
    return {row.id: mapping.record(row) for row in rows}


async def find_instance(record_id: int, process_id: int) -> Instance | None:
    """The record's run of the process, without its stays."""
    row = await InstanceRow.get_or_none(record_id=record_id, process_id=process_id)
    return mapping.instance(row) if row else None


async def instances_on(process_id: int, version: int, *, lock: bool = False) -> list[Instance]:
    """Every instance following one version of a process, with its visits; with `lock`,
    inside a transaction, locked until commit (in id order, as every taker of several)."""
    query = InstanceRow.filter(process_id=process_id, process_version=version).order_by("id")
    rows = await (query.select_for_update() if lock else query)
    visits = await visits_of(row.id for row in rows)
    return [replace(mapping.instance(row), visits=tuple(visits.get(row.id, []))) for row in rows]


async def instances_by_id(ids: Iterable[int]) -> dict[int, Instance]:
    rows = await InstanceRow.filter(id__in=list(set(ids)))
    return {row.id: mapping.instance(row) for row in rows}


async def instances_of_records(record_ids: Iterable[int]) -> dict[int, list[Instance]]:
    """The instances on each record: its own runs, then those crossed into it."""
    ids = list(set(record_ids))
    rows = await InstanceRow.filter(record_id__in=ids).order_by("id")
    found = _grouped(rows, lambda row: row.record_id, mapping.instance)
    crossed = await crossed_into(ids)
    if crossed:
        more = await instances_by_id(i for each in crossed.values() for i in each)
        for record_id, instance_ids in crossed.items():
            found.setdefault(record_id, []).extend(more[i] for i in instance_ids if i in more)
    return found


async def visits_of(instance_ids: Iterable[int]) -> dict[int, list[Visit]]:
    rows = await VisitRow.filter(instance_id__in=list(set(instance_ids))).order_by("n")
    return _grouped(rows, lambda row: row.instance_id, mapping.visit)


async def insert_instance(value: Instance) -> Instance:
    row = await InstanceRow.create(
        record_id=value.record_id,
        process_id=value.process_id,
        started_at=value.started_at,
        **mapping.instance_columns(value),
    )
    await _insert_visits(row.id, value.visits)
    return replace(value, id=row.id)


# On PostgreSQL, a step's two writes in one round trip: the record, then the instance (only
# if the record was at its version).
SAVE_RECORD_AND_INSTANCE = """
WITH r AS (
  UPDATE "record" SET "name" = $1, "owner" = $2, "values" = $3::jsonb, "version" = $4,
    "active_instance_id" = $5, "updated_at" = $6
  WHERE "id" = $7 AND "version" = $8 RETURNING 1
)
UPDATE "instance" SET "process_version" = $9, "status" = $10, "active_stage" = $11,
  "path" = $12::jsonb, "version" = $13, "active_since" = $14, "completed_at" = $15,
  "outcome" = $18, "outcome_reason" = $19, "completed_by" = $20
WHERE "id" = $16 AND "version" = $17 AND EXISTS (SELECT 1 FROM r)
RETURNING 1
"""


async def save_record_and_instance(
    record: tuple[Record, Record], instance: tuple[Instance, Instance]
) -> None:
    """`save_record`, then `save_instance` of an instance read without its stays (and
    writing none): each only if its row is still at the old version."""
    (old_record, new_record), (old_instance, new_instance) = record, instance
    assert not old_instance.visits and not new_instance.visits
    conn = get_connection("default")
    if conn.capabilities.dialect != "postgres":
        await save_record(old_record, new_record)
        await save_instance(old_instance, new_instance)
        return
    r, i = mapping.record_columns(new_record), mapping.instance_columns(new_instance)
    rows = await conn.execute_query_dict(
        SAVE_RECORD_AND_INSTANCE,
        [
            r["name"],
            r["owner"],
            _json(r["values"]),
            r["version"],
            r["active_instance_id"],
            r["updated_at"],
            old_record.id,
            old_record.version,
            i["process_version"],
            i["status"],
            i["active_stage"],
            _json(i["path"]),
            i["version"],
            i["active_since"],
            i["completed_at"],
            old_instance.id,
            old_instance.version,
            i["outcome"],
            i["outcome_reason"],
            i["completed_by"],
        ],
    )
    if not rows:  # which one was not at its version: the record's write was first
        if not await RecordRow.filter(id=old_record.id, version=old_record.version).exists():
            await _conflict(RecordRow, "Record", old_record.id, old_record.version)
        await _conflict(InstanceRow, "Instance", old_instance.id, old_instance.version)


# On PostgreSQL, a change decided on rows read without a lock, written in one statement
# (its own transaction) only if both rows are still at the versions it was decided on: the
# instance locked, then its record (the order of every taker of both), the columns that
# changed written, the event numbered and stored, and announced on commit. Nothing is
# written when either row has moved on.
_WRITE_AT_ONCE = """
WITH i AS (SELECT 1 FROM "instance" WHERE "id" = $1 AND "version" = $2 FOR UPDATE),
r AS (
  SELECT 1 FROM "record" WHERE "id" = $3 AND "version" = $4 AND EXISTS (SELECT 1 FROM i)
  FOR UPDATE
){instance}{record},
e AS (
  INSERT INTO "event" ("seq", "kind", "actor", "at", "record_id", "instance_id", "process_id",
    "from_stage", "to_stage", "before", "after", "idempotency_key", "request_hash")
  SELECT stageflow_next_seq(), $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15,
    $16 FROM r
  RETURNING "seq"
)
SELECT "seq", pg_notify('stageflow_events', "seq"::text) FROM e
"""
_JSON_COLUMNS = frozenset({"values", "path"})


def _assignments(columns: Sequence[str], first: int) -> str:
    return ", ".join(
        f'"{c}" = ${n}' + ("::jsonb" if c in _JSON_COLUMNS else "")
        for n, c in enumerate(columns, start=first)
    )


@functools.cache
def _write_at_once(instance: tuple[str, ...], record: tuple[str, ...]) -> str:
    """The statement writing these columns of the instance and of the record."""
    n = 17
    parts = []
    for table, key, columns in (("instance", "$1", instance), ("record", "$3", record)):
        if columns:
            parts.append(
                f',\nw{table[0]} AS (UPDATE "{table}" SET {_assignments(columns, n)}'
                f' WHERE "id" = {key} AND EXISTS (SELECT 1 FROM r))'
            )
            n += len(columns)
    return _WRITE_AT_ONCE.format(
        instance=parts[0] if instance else "", record=parts[-1] if record else ""
    )


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {c: v for c, v in new.items() if old[c] != v}


def writes_at_once() -> bool:
    """Whether `write_at_once` is there: on PostgreSQL (SQLite runs one writer at a time)."""
    return bool(get_connection("default").capabilities.dialect == "postgres")


def at_once(
    instance: tuple[Instance, Instance],
    record: tuple[Record, Record],
    event: Event,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> tuple[str, list[Any]]:
    """The statement of `write_at_once`, and its arguments: the columns that changed."""
    (old_instance, new_instance), (old_record, new_record) = instance, record
    assert not new_instance.visits or new_instance.visits == old_instance.visits
    i = _changed(mapping.instance_columns(old_instance), mapping.instance_columns(new_instance))
    r = _changed(mapping.record_columns(old_record), mapping.record_columns(new_record))
    values = [_json(v) if c in _JSON_COLUMNS else v for c, v in (*i.items(), *r.items())]
    return _write_at_once(tuple(i), tuple(r)), [
        old_instance.id,
        old_instance.version,
        old_record.id,
        old_record.version,
        *_event_values(event, idempotency_key, request_hash),
        *values,
    ]


async def write_at_once(
    instance: tuple[Instance, Instance],
    record: tuple[Record, Record],
    event: Event,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Event | None:
    """PostgreSQL only: the instance and record written, and the event stored, in one
    statement, if both rows are still at their old versions; else None, nothing written."""
    sql, arguments = at_once(
        instance, record, event, idempotency_key=idempotency_key, request_hash=request_hash
    )

    async def write(connection: asyncpg.Connection) -> int:
        try:
            row = await connection.fetchrow(sql, *arguments)
        except asyncpg.UniqueViolationError as error:  # the idempotency key, used meanwhile
            raise IntegrityError(error) from error
        return int(row["seq"]) if row is not None else 0

    async def landed() -> int | None:
        """The seq of this very event, if it was stored; None: the statement runs again."""
        conn = get_connection("default")
        rows = await conn.execute_query_dict(
            'SELECT "seq" FROM "event" WHERE "instance_id" = $1 AND "at" = $2'
            ' AND "actor" = $3 AND "kind" = $4',
            [event.instance_id, event.at, event.actor, event.kind.value],
        )
        return int(rows[0]["seq"]) if rows else None

    seq = await transaction.once(write, landed=landed)
    return replace(event, seq=seq) if seq else None


def _json(value: Any) -> str:
    """As the models' JSON fields write it."""
    return json.dumps(value, separators=(",", ":"))


async def save_instance(old: Instance, new: Instance) -> None:
    """Write `new` only if the row is still at `old.version`; record its stage visits."""
    count = await InstanceRow.filter(id=old.id, version=old.version).update(
        **mapping.instance_columns(new)
    )
    # Not `!= 1`: on SQLite the count includes what the shown counts' triggers wrote.
    if count == 0:
        await _conflict(InstanceRow, "Instance", old.id, old.version)
    assert old.id is not None
    for before, after in zip(old.visits, new.visits, strict=False):
        if (before.exited_at, before.due_at) != (after.exited_at, after.due_at):
            await VisitRow.filter(instance_id=old.id, n=after.n).update(
                exited_at=after.exited_at, due_at=after.due_at
            )
    await _insert_visits(old.id, new.visits[len(old.visits) :])


async def list_instances(
    *,
    process_id: int | None,
    stage: str | None,
    status: InstanceStatus | None,
    record_id: int | None,
    owner: str | None,
    first: int,
    after: str | None,
    visible: Visible = None,
    overdue: bool | None = None,
    now: dt.datetime | None = None,
) -> Page:
    shown = InstanceFilter(process_id, stage, status, overdue=overdue, now=now)
    query = visible_instances(visible).filter(**shown.lookups())
    if overdue is not None:
        query = query.filter(shown.late() if overdue else shown.on_time())
    if record_id is not None:
        query = query.filter(record_id=record_id)
    if owner:
        query = query.filter(record__owner=owner)
    # Each instance's record in the same statement: a page of bars is one statement.
    rows = await (
        query.filter(id__gt=id_from_cursor(after))
        .select_related("record")
        .order_by("id")
        .limit(first + 1)
    )
    return Page(
        items=[mapping.instance(row) for row in rows[:first]],
        has_next=len(rows) > first,
        count=query.count
        if record_id is not None or owner or not shown.counted
        else _bucket_count(shown, visible),
        records={row.record_id: mapping.record(row.record) for row in rows[:first]},
    )


def _bucket_count(shown: InstanceFilter, visible: Visible) -> Callable[[], Awaitable[int]]:
    """Counting the instances of the filter from `instance_count`, which triggers keep."""

    async def count() -> int:
        conn = get_connection("default")
        sql, params = bucket_sum(
            "instance_count",
            postgres=conn.capabilities.dialect == "postgres",
            equal=shown.lookups(),
            processes=visible,
        )
        return int((await conn.execute_query_dict(sql, params))[0]["n"])

    return count


def visit_rows(instance_id: int, visits: Iterable[Visit]) -> list[VisitRow]:
    """The rows of an instance's stays, to be inserted."""
    return [
        VisitRow(
            instance_id=instance_id,
            n=v.n,
            stage=v.stage,
            entered_at=v.entered_at,
            exited_at=v.exited_at,
            entered_by=v.by,
            due_at=v.due_at,
            overdue_at=v.overdue_at,
        )
        for v in visits
    ]


async def _insert_visits(instance_id: int, visits: Iterable[Visit]) -> None:
    rows = visit_rows(instance_id, visits)
    if rows:
        await VisitRow.bulk_create(rows)


# Events


async def append_event(
    event: Event, *, idempotency_key: str | None = None, request_hash: str | None = None
) -> Event:
    """Number the event with the next global seq and store it.

    On PostgreSQL the seq comes from a sequence, behind a shared lock held until commit
    that readers wait out (migration 0008): changes on different instances commit side by
    side, and a reader stopping at the horizon never sees seq n before every smaller seq
    has committed or rolled back. On SQLite, which runs one writer at a time, the counter
    row numbers events without a gap.
    """
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        seq = await _append_postgres(conn, event, idempotency_key, request_hash)
        return replace(event, seq=seq)
    rows = await conn.execute_query_dict(
        "UPDATE counter SET value = value + 1 WHERE name = 'event' RETURNING value"
    )
    seq = int(rows[0]["value"])
    await EventRow.create(
        seq=seq,
        kind=event.kind.value,
        actor=event.actor,
        at=event.at,
        record_id=event.record_id,
        instance_id=event.instance_id,
        process_id=event.process_id,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        before=event.before,
        after=event.after,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    return replace(event, seq=seq)


# One round trip: the next seq, the notification (delivered to every listening process
# when, and only if, the transaction commits) and the row.
APPEND_EVENT = """
WITH next AS MATERIALIZED (SELECT stageflow_next_seq() AS value),
told AS (SELECT pg_notify('stageflow_events', value::text) FROM next)
INSERT INTO event (seq, kind, actor, at, record_id, instance_id, process_id, from_stage,
                   to_stage, before, after, idempotency_key, request_hash)
SELECT next.value, $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12
FROM next, told
RETURNING seq
"""


async def _append_postgres(
    conn: Any, event: Event, idempotency_key: str | None, request_hash: str | None
) -> int:
    rows = await conn.execute_query_dict(
        APPEND_EVENT, _event_values(event, idempotency_key, request_hash)
    )
    return int(rows[0]["seq"])


def _event_values(event: Event, idempotency_key: str | None, request_hash: str | None) -> list[Any]:
    """An event row's columns after its seq, as APPEND_EVENT and `at_once` take them."""
    return [
        event.kind.value,
        event.actor,
        event.at,
        event.record_id,
        event.instance_id,
        event.process_id,
        event.from_stage,
        event.to_stage,
        None if event.before is None else json.dumps(event.before),
        None if event.after is None else json.dumps(event.after),
        idempotency_key,
        request_hash,
    ]


async def feed_after(
    seq: int, *, limit: int, kinds: Collection[EventKind] | None = None
) -> tuple[list[Event], int]:
    """The feed's read, in one round trip: every event after `seq` up to the horizon, oldest
    first (at most `limit`), and the horizon. With fewer than `limit` events, a reader goes
    on from the horizon, past seqs that were never used. Given `kinds`, only events of those
    kinds are read on PostgreSQL, and the horizon is the same (SQLite reads every event)."""
    conn = get_connection("default")
    if conn.capabilities.dialect != "postgres":
        events = await events_after(seq, limit=limit)
        return events, (events[-1].seq or seq) if events else seq
    names = None if kinds is None else sorted(kind.value for kind in kinds)
    rows = await conn.execute_query_dict(
        "SELECT horizon, (e).* FROM stageflow_events_after($1, $2, $3)", [seq, limit, names]
    )
    events = [mapping.event(EventRow._init_from_db(**row)) for row in rows if row["seq"]]
    return events, int(rows[0]["horizon"])


async def newest_seq() -> int:
    """The last seq taken, committed or not (on PostgreSQL, without waiting for any)."""
    return await _seq("stageflow_newest_seq()")


async def last_seq() -> int:
    """The newest seq up to which every event is committed or will never be: a change
    committed after this call has a larger seq."""
    return await _seq("stageflow_horizon()")


async def _seq(postgres: str) -> int:
    """A seq from one of migration 0008's functions; on SQLite, which numbers events from the
    counter row one writer at a time, the counter's value answers both."""
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(f"SELECT {postgres} AS value")
    else:
        rows = await conn.execute_query_dict("SELECT value FROM counter WHERE name = 'event'")
    return int(rows[0]["value"])


async def hold_key(actor: str, key: str) -> None:
    """Inside a transaction: wait for any other transaction using the same key to end.

    On PostgreSQL a transaction-scoped advisory lock; SQLite runs one transaction at a time.
    """
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [f"{actor}\x1f{key}"]
        )


async def event_by_key(actor: str, key: str) -> tuple[Event, str | None] | None:
    """The event a user's idempotency key produced, and the digest of its request."""
    row = await EventRow.get_or_none(actor=actor, idempotency_key=key)
    return (mapping.event(row), row.request_hash) if row else None


async def event_landed(event: Event) -> bool:
    """Whether this very event (not another that took its seq after a rollback) is stored."""
    row = await EventRow.get_or_none(seq=event.seq)
    return (
        row is not None
        and row.kind == event.kind.value
        and row.actor == event.actor
        and row.at == event.at
        and row.instance_id == event.instance_id
        and row.record_id == event.record_id
    )


async def events_after(
    seq: int,
    *,
    instance_id: int | None = None,
    record_id: int | None = None,
    process_id: int | None = None,
    kinds: Iterable[EventKind] | None = None,
    limit: int = 500,
    newest: bool = False,
    visible: Visible = None,
    designs: bool = False,
) -> list[Event]:
    """Events after `seq`, oldest first, up to the horizon (`last_seq`): reading on from the
    last one returned never skips a change that commits later. `newest`: the last `limit` of
    them rather than the first. `visible` and `designs`: as `visible_events`."""
    postgres = get_connection("default").capabilities.dialect == "postgres"
    query = visible_events(visible, designs=designs).filter(seq__gt=seq)
    if postgres:
        query = query.filter(seq__lte=await last_seq())
    if process_id is not None:
        query = query.filter(process_id=process_id)
    if instance_id is not None:
        query = query.filter(instance_id=instance_id)
    if record_id is not None:
        query = query.filter(record_id=record_id)
    if kinds is not None:
        query = query.filter(kind__in=sorted(k.value for k in kinds))
    rows = await query.order_by("-seq" if newest else "seq").limit(limit)
    if newest:
        rows.reverse()
    return [mapping.event(row) for row in rows]


async def events_of_instances(
    instance_ids: Iterable[int], *, kinds: Iterable[EventKind]
) -> dict[int, list[Event]]:
    """The events of these kinds of each instance, oldest first."""
    rows = await EventRow.filter(
        instance_id__in=list(set(instance_ids)), kind__in=[k.value for k in kinds]
    ).order_by("seq")
    return _grouped(rows, lambda row: row.instance_id, mapping.event)


async def last_visits(instance_ids: Iterable[int], last: int) -> dict[int, list[Visit]]:
    """The newest `last` stays of each instance, oldest first, in one statement."""
    rows = await _first_of_each(VisitRow, instance_ids, order='"n" DESC', first=last)
    rows.sort(key=lambda row: (row.instance_id, row.n))
    return _grouped(rows, lambda row: row.instance_id, mapping.visit)


async def event_pages(
    instance_ids: Iterable[int], *, after_seq: int, first: int
) -> dict[int, list[Event]]:
    """The first `first` events after `after_seq` of each instance, in one statement."""
    rows = await _first_of_each(
        EventRow, instance_ids, order='"seq"', first=first, where=f'"seq" > {int(after_seq)}'
    )
    rows.sort(key=lambda row: row.seq)
    return _grouped(rows, lambda row: row.instance_id, mapping.event)


async def _first_of_each(
    model: type[M], instance_ids: Iterable[int], *, order: str, first: int, where: str = ""
) -> list[M]:
    """The first `first` rows, in `order`, of each instance: a window over the instances'
    rows. Only numbers are written into the statement, each made an int here."""
    ids = ", ".join(str(int(i)) for i in set(instance_ids))
    columns = ", ".join(f'"{c}"' for c in model._meta.fields_db_projection.values())
    inner = (
        f'SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY "instance_id" ORDER BY {order}) '
        f'AS "place" FROM "{model._meta.db_table}" WHERE "instance_id" IN ({ids})'
        + (f" AND {where}" if where else "")
    )
    sql = f'SELECT {columns} FROM ({inner}) AS "ranked" WHERE "place" <= {int(first)}'
    return list(await model.raw(sql)) if ids else []


async def _with_visits(row: InstanceRow) -> Instance:
    return mapping.instance(row, await VisitRow.filter(instance_id=row.id))


def _grouped(
    rows: Iterable[R], key: Callable[[R], Any], convert: Callable[[R], V]
) -> dict[int, list[V]]:
    """Rows converted and grouped by `key`, keeping their order."""
    out: dict[int, list[V]] = {}
    for row in rows:
        out.setdefault(key(row), []).append(convert(row))
    return out


async def page_of(
    query: QuerySet[Any], first: int, after: str | None, convert: Callable[[Any], object]
) -> Page:
    rows = await query.filter(id__gt=id_from_cursor(after)).order_by("id").limit(first + 1)
    return Page(
        items=[convert(row) for row in rows[:first]],
        has_next=len(rows) > first,
        count=query.count,
    )


async def _conflict(model: type[Model], kind: str, id: int | None, expected: int) -> None:
    row = await model.get_or_none(id=id)
    if row is None:
        raise NotFound(kind, id)
    current: int = row.version  # type: ignore[attr-defined]
    raise VersionConflict(kind, id, current=current, expected=expected)
