"""A bare peer for the bench: Stageflow's bar read and completeStep with nothing above the SQL.

Starlette and asyncpg (or aiosqlite for an SQLite file), no ORM and no GraphQL, sending
the statements Stageflow sends. Each request checks its bearer token as Stageflow does:
the SHA-256 of the secret looked up in the credential table with its user, kept between
requests (for at most five minutes, its expiry checked at every use), and so are the
roles that say which processes the user may run. Then:

- `POST /bar` `{"id": …}`: the instance (among the runnable processes) and its record,
  in one statement; the bar is built by Stageflow's own pure `progress()` and answered in
  the shape of the GraphQL answer.
- `POST /complete` `{"id": …, "field": …, "value": …}` (PostgreSQL only): the step
  decided by Stageflow's own `complete_step()` on the instance and record this app wrote
  last (else read now, among the runnable processes, in one statement), then written by
  Stageflow's own one statement: both rows locked and compare-and-set, the event numbered,
  stored and announced with `pg_notify`; read again and decided again if a row moved on.

Process versions are parsed once and kept, as Stageflow's catalog does; pooled
connections go back without asyncpg's reset query, as Stageflow's do. Nothing here drops
what it keeps when a credential is revoked or roles change: the bench changes neither.
Serve with `BENCH_BARE_DATABASE_URL=… uvicorn --factory bench.bare:create_app`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import aiosqlite
import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.db.store import at_once
from server.domain.access import User, user_from_roles
from server.domain.definition import load_entities, load_process
from server.domain.instance import Instance, InstanceStatus, complete_step
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
_VERSION = 'SELECT "definition" FROM "process_version" WHERE "process_id"=$1 AND "number"=$2'
_ENTITIES = 'SELECT "key","name","fields" FROM "entity"'

# As long as Stageflow keeps a credential at most.
_KEEP_SECONDS = 300.0

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
            # Stageflow's pool size (Tortoise's asyncpg default), and no reset query.
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=5, reset=_as_it_is
            )

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


async def _as_it_is(connection: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is (asyncpg still ends an open transaction)."""


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


class Access:
    """Credentials by the hash of their secret, and who may run each process, kept."""

    def __init__(self) -> None:
        self._credentials: dict[str, tuple[dict[str, Any] | None, float]] = {}
        self._roles: list[tuple[int, list[str]]] | None = None

    async def user(self, conn: Connection, request: Request) -> User | None:
        """The user a bearer token stands for, as Stageflow checks it."""
        scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret.startswith("sf_") or len(secret) > 100:
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        row, kept_at = self._credentials.get(digest, (None, 0.0))
        if row is None or time.monotonic() - kept_at > _KEEP_SECONDS:
            row = await conn.fetchrow(_CREDENTIAL, digest)
            if row is None:
                return None
            self._credentials[digest] = (row, time.monotonic())
        if row["kind"] != "token" or row["revoked_at"] is not None or not row["active"]:
            return None
        expires = _time(row["expires_at"])
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            return None
        return user_from_roles(row["id"], row["name"], _json(row["roles"]), bool(row["active"]))

    async def runnable(self, conn: Connection, user: User) -> list[int] | None:
        if user.is_admin:
            return None
        if self._roles is None:
            rows = await conn.fetch(_PROCESSES)
            self._roles = [(r["id"], _json(r["roles"]) or []) for r in rows]
        return sorted(id for id, roles in self._roles if user.may_run(roles))


def _bar_query(visible: Sequence[int] | None) -> str:
    """The instance by id (the last parameter), among the runnable processes, with its
    record's columns named `r_…`."""
    where = ""
    if visible is not None:
        where = 'i."process_id" IN (' + ",".join(f"${i + 1}" for i in range(len(visible)))
        where += ") AND "
    n = 1 + len(visible or ())
    instance = ",".join(f"i.{c}" for c in _INSTANCE_COLUMNS.split(","))
    record = ",".join(f'r.{c} AS "r_{c.strip(chr(34))}"' for c in _RECORD_COLUMNS.split(","))
    return (
        f'SELECT {instance},{record} FROM "instance" i JOIN "record" r ON r."id"=i."record_id"'
        f' WHERE {where}i."id"=${n} LIMIT 1'
    )


def _instance(row: dict[str, Any]) -> Instance:
    """An instance without its stays: neither the bar nor a step needs them."""
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


def _joined_record(row: dict[str, Any]) -> Record:
    """The record of a `_bar_query` row (its columns named `r_…`)."""
    return _record({key[2:]: value for key, value in dict(row).items() if key.startswith("r_")})


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
    access: Access = request.app.state.access
    async with db.connection() as conn:
        user = await access.user(conn, request)
        if user is None:
            return _refused("UNAUTHENTICATED")
        visible = await access.runnable(conn, user)
        row = await conn.fetchrow(_bar_query(visible), *(visible or ()), int(body["id"]))
        if row is None:
            return JSONResponse({"data": {"instance": None}})
        instance, record = _instance(row), _joined_record(row)
        process = await request.app.state.catalog.version(
            conn, instance.process_id, instance.process_version
        )
        return JSONResponse({"data": {"instance": _bar(instance, process, record)}})


async def complete(request: Request) -> Response:
    body = await request.json()
    db: Database = request.app.state.db
    access: Access = request.app.state.access
    written: dict[int, tuple[Instance, Record]] = request.app.state.written
    instance_id = int(body["id"])
    async with db.connection() as wrapped:
        assert isinstance(wrapped, _PostgresConnection), "writes run on PostgreSQL"
        conn = wrapped
        user = await access.user(conn, request)
        if user is None:
            return _refused("UNAUTHENTICATED")
        visible = await access.runnable(conn, user)
        # As Stageflow: decided on the rows this app wrote last, else on those read now, and
        # written in Stageflow's one statement if both rows are still at those versions.
        rows = written.get(instance_id)
        while True:
            if rows is None or (visible is not None and rows[0].process_id not in visible):
                row = await conn.fetchrow(_bar_query(visible), *(visible or ()), instance_id)
                if row is None:
                    return JSONResponse({"data": {"completeStep": {"__typename": "NotFound"}}})
                rows = _instance(row), _joined_record(row)
            instance, record = rows
            process = await request.app.state.catalog.version(
                conn, instance.process_id, instance.process_version
            )
            now = dt.datetime.now(dt.UTC)
            moved, updated, event = complete_step(
                instance, process, record, body["field"], body.get("value"), now=now, by=user.name
            )
            sql, arguments = at_once((instance, moved), (record, updated), event)
            if await conn.raw.fetchrow(sql, *arguments) is not None:
                break
            rows = None  # a row moved on: read it again
        written[instance_id] = moved, updated
        answer = {"__typename": "StepCompleted", "instance": {"version": moved.version}}
        return JSONResponse({"data": {"completeStep": answer}})


def create_app(url: str | None = None) -> Starlette:
    database = Database(url or os.environ["BENCH_BARE_DATABASE_URL"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        app.state.db = database
        app.state.catalog = Catalog()
        app.state.access = Access()
        app.state.written = {}
        try:
            yield
        finally:
            await database.close()

    routes = [
        Route("/bar", read_bar, methods=["POST"]),
        Route("/complete", complete, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
