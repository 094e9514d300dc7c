"""A bare peer for the bench: Stageflow's bar read and completeStep with nothing above the SQL.

Starlette and asyncpg (or aiosqlite for an SQLite file), no ORM and no GraphQL. Each
request checks its bearer token as Stageflow does (the SHA-256 of the secret looked up in
the credential table, with its user), reads which processes the user may run, and then:

- `POST /bar` `{"id": …}`: the instance (among the runnable processes), its stage visits
  and its record, the same SELECTs Stageflow sends; the bar is built by Stageflow's own
  pure `progress()` and answered in the shape of the GraphQL answer.
- `POST /complete` `{"id": …, "field": …, "value": …}` (PostgreSQL only): in one
  transaction the instance and its record locked, the step decided by Stageflow's own
  `complete_step()`, compare-and-set updates of record and instance, the next seq from
  the counter, `pg_notify` and the event row.

Process versions are parsed once and kept, as Stageflow's catalog does. Serve with
`BENCH_BARE_DATABASE_URL=… uvicorn --factory bench.bare:create_app`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import aiosqlite
import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.domain.access import User, user_from_roles
from server.domain.definition import load_entities, load_process
from server.domain.instance import Instance, InstanceStatus, Visit, complete_step
from server.domain.process import Process
from server.domain.progress import progress
from server.domain.record import Record

_CREDENTIAL = (
    'SELECT "credential"."kind", "credential"."expires_at", "credential"."revoked_at",'
    ' "account"."id", "account"."name", "account"."roles", "account"."active"'
    ' FROM "credential" LEFT OUTER JOIN "account" ON "account"."id" = "credential"."user_id"'
    ' WHERE "credential"."secret_hash" = $1 LIMIT 2'
)
_PROCESSES = 'SELECT "id", "roles" FROM "process"'
_INSTANCE_COLUMNS = (
    '"status","id","active_stage","version","active_since","path","completed_at",'
    '"process_id","process_version","started_at","record_id"'
)
_RECORD_COLUMNS = (
    '"values","owner","name","id","created_at","version","active_instance_id",'
    '"entity_id","updated_at"'
)
_VISITS = (
    'SELECT "id","exited_at","entered_at","entered_by","stage","n","instance_id"'
    ' FROM "stage_visit" WHERE "instance_id"=$1'
)
_VERSION = 'SELECT "definition" FROM "process_version" WHERE "process_id"=$1 AND "number"=$2'
_ENTITIES = 'SELECT "key","name","fields" FROM "entity"'

_SAVE_RECORD = (
    'UPDATE "record" SET "name"=$1,"owner"=$2,"values"=$3,"version"=$4,'
    '"active_instance_id"=$5,"updated_at"=$6 WHERE "id"=$7 AND "version"=$8'
)
_SAVE_INSTANCE = (
    'UPDATE "instance" SET "process_version"=$1,"status"=$2,"active_stage"=$3,"path"=$4,'
    '"version"=$5,"active_since"=$6,"completed_at"=$7 WHERE "id"=$8 AND "version"=$9'
)
_NEXT_SEQ = "UPDATE counter SET value = value + 1 WHERE name = 'event' RETURNING value"
_NOTIFY = "SELECT pg_notify('stageflow_events', $1)"
_INSERT_EVENT = (
    'INSERT INTO "event" ("seq","kind","actor","at","record_id","instance_id","process_id",'
    '"from_stage","to_stage","before","after","idempotency_key","request_hash")'
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
)

_PLACEHOLDER = re.compile(r"\$\d+")


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class Database:
    """The few calls the app needs, on PostgreSQL (a pool) or SQLite (one connection)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        self._pool: asyncpg.Pool | None = None
        self._sqlite: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self.sqlite:
            path = self.url.split("://", 1)[1].split("?", 1)[0]
            self._sqlite = await aiosqlite.connect(path, isolation_level=None)
            self._sqlite.row_factory = aiosqlite.Row
            await self._sqlite.execute("PRAGMA journal_mode=WAL")
        else:
            # Stageflow's pool size (Tortoise's asyncpg default).
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=5)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._sqlite is not None:
            await self._sqlite.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        if self._sqlite is not None:
            yield _SqliteConnection(self._sqlite)
            return
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            yield _PostgresConnection(conn)


class Connection:
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


class _PostgresConnection(Connection):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.raw = conn

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.raw.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self.raw.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])


class _SqliteConnection(Connection):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.raw.execute(_PLACEHOLDER.sub("?", sql), args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]


class Catalog:
    """Parsed process versions, kept: a published version never changes."""

    def __init__(self) -> None:
        self._versions: dict[tuple[int, int], Process] = {}

    async def version(self, conn: Connection, process_id: int, number: int) -> Process:
        key = (process_id, number)
        if key not in self._versions:
            row = await conn.fetchrow(_VERSION, process_id, number)
            assert row is not None
            rows = await conn.fetch(_ENTITIES)
            entities = load_entities(
                {
                    "entities": [
                        {"key": r["key"], "name": r["name"], "fields": _json(r["fields"])}
                        for r in rows
                    ]
                }
            )
            process = load_process(_json(row["definition"]), {e.key: e for e in entities})
            self._versions[key] = replace(process, id=process_id, version=number)
        return self._versions[key]


async def _user(conn: Connection, request: Request) -> User | None:
    """The user a bearer token stands for, as Stageflow checks it."""
    scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith("sf_") or len(secret) > 100:
        return None
    row = await conn.fetchrow(_CREDENTIAL, hashlib.sha256(secret.encode()).hexdigest())
    if row is None or row["kind"] != "token" or row["revoked_at"] is not None:
        return None
    expires = _time(row["expires_at"])
    if not row["active"] or (expires is not None and expires <= dt.datetime.now(dt.UTC)):
        return None
    return user_from_roles(row["id"], row["name"], _json(row["roles"]), bool(row["active"]))


async def _runnable(conn: Connection, user: User) -> list[int] | None:
    if user.is_admin:
        return None
    rows = await conn.fetch(_PROCESSES)
    return sorted(r["id"] for r in rows if user.may_run(_json(r["roles"]) or ()))


def _instance_query(visible: Sequence[int] | None, *, lock: bool) -> tuple[str, int]:
    """The instance by id, among the runnable processes; and the id's placeholder number."""
    where = ""
    if visible is not None:
        where = '"process_id" IN (' + ",".join(f"${i + 1}" for i in range(len(visible))) + ") AND "
    n = 1 + len(visible or ())
    suffix = " FOR UPDATE" if lock else ""
    sql = f'SELECT {_INSTANCE_COLUMNS} FROM "instance" WHERE {where}"id"=${n} LIMIT 1{suffix}'
    return sql, n


def _instance(row: dict[str, Any], visits: list[dict[str, Any]]) -> Instance:
    return Instance(
        id=row["id"],
        process_id=row["process_id"],
        process_version=row["process_version"],
        record_id=row["record_id"],
        status=InstanceStatus(row["status"]),
        active_stage=row["active_stage"],
        path=tuple(_json(row["path"])),
        version=row["version"],
        started_at=_time(row["started_at"]),  # type: ignore[arg-type]
        active_since=_time(row["active_since"]),  # type: ignore[arg-type]
        completed_at=_time(row["completed_at"]),
        visits=tuple(
            Visit(
                v["n"], v["stage"], _time(v["entered_at"]), _time(v["exited_at"]), v["entered_by"]
            )  # type: ignore[arg-type]
            for v in sorted(visits, key=lambda v: v["n"])
        ),
    )


def _record(row: dict[str, Any]) -> Record:
    return Record(
        id=row["id"],
        entity=row["entity_id"],
        name=row["name"],
        owner=row["owner"],
        values=_json(row["values"]),
        version=row["version"],
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_time(row["updated_at"]),  # type: ignore[arg-type]
        active_instance_id=row["active_instance_id"],
    )


def _bar(instance: Instance, process: Process, record: Record) -> dict[str, Any]:
    bar = progress(instance, process, record.values)
    return {
        "id": str(instance.id),
        "version": instance.version,
        "stages": [{"stage": {"key": s.stage.key}, "state": s.state.value} for s in bar.stages],
        "activeStage": {"key": bar.active_stage.key},
        "missingSteps": [{"field": {"key": s.field}} for s in bar.missing_steps],
        "canAdvance": bar.can_advance,
        "nextStage": {"key": bar.next_stage.key} if bar.next_stage else None,
    }


def _refused(code: str) -> Response:
    return JSONResponse({"errors": [{"message": code, "extensions": {"code": code}}]}, 401)


async def read_bar(request: Request) -> Response:
    body = await request.json()
    db: Database = request.app.state.db
    async with db.connection() as conn:
        user = await _user(conn, request)
        if user is None:
            return _refused("UNAUTHENTICATED")
        visible = await _runnable(conn, user)
        sql, _ = _instance_query(visible, lock=False)
        row = await conn.fetchrow(sql, *(visible or ()), int(body["id"]))
        if row is None:
            return JSONResponse({"data": {"instance": None}})
        visits = await conn.fetch(_VISITS, row["id"])
        record = await conn.fetchrow(
            f'SELECT {_RECORD_COLUMNS} FROM "record" WHERE "id" IN ($1)', row["record_id"]
        )
        assert record is not None
        instance = _instance(row, visits)
        process = await request.app.state.catalog.version(
            conn, instance.process_id, instance.process_version
        )
        return JSONResponse({"data": {"instance": _bar(instance, process, _record(record))}})


async def complete(request: Request) -> Response:
    body = await request.json()
    db: Database = request.app.state.db
    async with db.connection() as wrapped:
        assert isinstance(wrapped, _PostgresConnection), "writes run on PostgreSQL"
        conn = wrapped
        user = await _user(conn, request)
        if user is None:
            return _refused("UNAUTHENTICATED")
        visible = await _runnable(conn, user)
        async with conn.raw.transaction():
            sql, _ = _instance_query(None, lock=True)
            row = await conn.fetchrow(sql, int(body["id"]))
            if row is None or (visible is not None and row["process_id"] not in visible):
                return JSONResponse({"data": {"completeStep": {"__typename": "NotFound"}}})
            instance = _instance(row, await conn.fetch(_VISITS, row["id"]))
            process = await request.app.state.catalog.version(
                conn, instance.process_id, instance.process_version
            )
            record_row = await conn.fetchrow(
                f'SELECT {_RECORD_COLUMNS} FROM "record" WHERE "id"=$1 LIMIT 1 FOR UPDATE',
                instance.record_id,
            )
            assert record_row is not None
            record = _record(record_row)
            now = dt.datetime.now(dt.UTC)
            moved, updated, event = complete_step(
                instance, process, record, body["field"], body.get("value"), now=now, by=user.name
            )
            saved = await conn.execute(
                _SAVE_RECORD,
                updated.name,
                updated.owner,
                json.dumps(dict(updated.values)),
                updated.version,
                updated.active_instance_id,
                updated.updated_at,
                record.id,
                record.version,
            )
            saved += await conn.execute(
                _SAVE_INSTANCE,
                moved.process_version,
                moved.status.value,
                moved.active_stage,
                json.dumps(list(moved.path)),
                moved.version,
                moved.active_since,
                moved.completed_at,
                instance.id,
                instance.version,
            )
            assert saved == 2, "both rows were locked at the versions read"
            seq = int((await conn.fetchrow(_NEXT_SEQ))["value"])  # type: ignore[index]
            await conn.fetch(_NOTIFY, str(seq))
            await conn.execute(
                _INSERT_EVENT,
                seq,
                event.kind.value,
                event.actor,
                event.at,
                event.record_id,
                event.instance_id,
                event.process_id,
                event.from_stage,
                event.to_stage,
                json.dumps(event.before) if event.before is not None else None,
                json.dumps(event.after) if event.after is not None else None,
                None,
                None,
            )
        answer = {"__typename": "StepCompleted", "instance": {"version": moved.version}}
        return JSONResponse({"data": {"completeStep": answer}})


def create_app(url: str | None = None) -> Starlette:
    database = Database(url or os.environ["BENCH_BARE_DATABASE_URL"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        app.state.db = database
        app.state.catalog = Catalog()
        try:
            yield
        finally:
            await database.close()

    routes = [
        Route("/bar", read_bar, methods=["POST"]),
        Route("/complete", complete, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
