"""The records list: one statement for a page and one for its count, shaped for the indexes.

- A name search asks the database's trigram index for candidates (pg_trgm's GIN index on
  `UPPER(CAST(name AS VARCHAR))`, SQLite's FTS5 table `record_name`; migration 0006), then
  keeps those the comparison Tortoise's `icontains` makes holds for: the same answer as a
  scan, found without one. Below a trigram (1 or 2 characters) only the comparison runs.
- The filter on the instance a record's bar shows is an EXISTS on that instance by its
  id, so a page walks records in id order and stops when it is full.
- Visibility is a correlated EXISTS on the unique (record, process) index. Records whose
  shown instance passes the filter are visible already: that instance is one of theirs.
- Under a filter on the shown instance alone (no search, no owner), the count is a sum
  over a few rows of `shown_count`, which triggers keep (migration 0007).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.connection import get_connection

from server.db import mapping
from server.db.models import RecordRow
from server.db.store import InstanceFilter, Page, Visible, id_from_cursor
from server.db.where import Where, bucket_sum

_TRIGRAM = 3  # the shortest text a trigram index can look up


@dataclass(frozen=True)
class Statements:
    page: str
    page_params: list[Any]
    count: str
    count_params: list[Any]


def record_statements(
    *,
    postgres: bool,
    entity: str | None,
    search: str | None,
    owner: str | None,
    shown: InstanceFilter,
    first: int,
    after_id: int,
    visible: Visible,
) -> Statements:
    """The SQL of a page of records after `after_id`, and of counting every match."""
    where = Where(postgres=postgres)
    if entity:
        where.conditions.append(f'r."entity_id" = {where.value(entity)}')
    if owner:
        where.conditions.append(f'r."owner" = {where.value(owner)}')
    if search:
        _search(where, search)
    if shown.lookups() or shown.overdue:
        _shown(where, shown, visible)
    elif visible is not None:
        where.conditions.append(
            '(r."active_instance_id" IS NULL OR EXISTS (SELECT 1 FROM "instance" v'
            f' WHERE v."record_id" = r."id" AND v."process_id" IN ({where.values(visible)}))'
            ' OR EXISTS (SELECT 1 FROM "instance_link" k'
            f' WHERE k."record_id" = r."id" AND k."process_id" IN ({where.values(visible)})))'
        )
    if shown.overdue is False:
        _not_late(where, shown)
    count = f'SELECT COUNT(*) AS "n" FROM "record" r WHERE {where.sql()}'
    count_params = list(where.params)
    if shown and shown.counted and not search and not owner:
        equal = {"entity_id": entity} if entity else {}
        count, count_params = bucket_sum(
            "shown_count", postgres=postgres, equal=equal | shown.lookups(), processes=visible
        )
    where.conditions.append(f'r."id" > {where.value(after_id)}')
    # Read when called: Tortoise adds the foreign keys' columns when it starts.
    columns = ", ".join(f'r."{c}"' for c in RecordRow._meta.fields_db_projection.values())
    page = (
        f'SELECT {columns} FROM "record" r WHERE {where.sql()}'
        f' ORDER BY r."id" LIMIT {where.value(first + 1)}'
    )
    return Statements(page, where.params, count, count_params)


async def list_records(
    *,
    entity: str | None,
    search: str | None,
    owner: str | None,
    shown: InstanceFilter,
    first: int,
    after: str | None,
    visible: Visible = None,
) -> Page:
    """Records, filtered by what they hold and by the instance their process bar shows."""
    conn = get_connection("default")
    sql = record_statements(
        postgres=conn.capabilities.dialect == "postgres",
        entity=entity,
        search=search,
        owner=owner,
        shown=shown,
        first=first,
        after_id=id_from_cursor(after),
        visible=visible,
    )
    rows = await conn.execute_query_dict(sql.page, sql.page_params)
    found = [mapping.record(RecordRow._init_from_db(**row)) for row in rows]

    async def count() -> int:
        counted = await conn.execute_query_dict(sql.count, sql.count_params)
        return int(counted[0]["n"])

    return Page(items=found[:first], has_next=len(found) > first, count=count)


def _search(where: Where, search: str) -> None:
    """A case-insensitive substring of the name, as `name__icontains` compares it."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f'UPPER(CAST(r."name" AS VARCHAR)) LIKE UPPER({where.value(f"%{escaped}%")})'
    # On PostgreSQL the GIN index is on this very expression: the planner looks it up.
    where.conditions.append(like + " ESCAPE '\\'")
    if not where.postgres and len(search) >= _TRIGRAM:
        # One FTS5 phrase, its quotes doubled: matched as a substring, operators and all.
        phrase = '"' + search.replace('"', '""') + '"'
        where.conditions.append(
            'r."id" IN (SELECT rowid FROM "record_name" WHERE "record_name" MATCH'
            f" {where.value(phrase)})"
        )


def _shown(where: Where, shown: InstanceFilter, visible: Visible) -> None:
    """The record's shown instance passes the filter, and the user may see it."""
    conditions = ['i."id" = r."active_instance_id"']
    if visible is not None:
        # A filter must not confirm a hidden process or stage.
        conditions.append(f'i."process_id" IN ({where.values(visible)})')
    for column, value in shown.lookups().items():
        conditions.append(f'i."{column}" = {where.value(value)}')
    if shown.overdue:
        conditions.append(_late(where, shown))
    where.conditions.append(f'EXISTS (SELECT 1 FROM "instance" i WHERE {" AND ".join(conditions)})')


def _not_late(where: Where, shown: InstanceFilter) -> None:
    """The record shows no instance past its active stay's due (or none at all)."""
    where.conditions.append(
        'NOT EXISTS (SELECT 1 FROM "instance" i WHERE i."id" = r."active_instance_id"'
        f" AND {_late(where, shown)})"
    )


def _late(where: Where, shown: InstanceFilter) -> str:
    """Instance `i` is active and past its active stay's due, as of the filter's `now`."""
    assert shown.now is not None
    now = where.value(shown.now.astimezone(dt.UTC))
    return f'i."status" = \'ACTIVE\' AND i."due_at" IS NOT NULL AND i."due_at" <= {now}'
