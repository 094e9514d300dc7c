"""The PostgreSQL client: a read whose connection fails is read again on a fresh one.

Tortoise's asyncpg client takes a pool connection per statement. After the server's
backends are terminated, the pool still holds connections that look alive until used;
the first statement on each fails. Here such a failure expires every pooled connection
(each is replaced when next taken) and a read runs once more. A write outside a
transaction is not repeated: whether it happened is not known. Statements inside a
transaction belong to the transaction, which `server.db.transaction` retries as a whole.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionContext, TransactionContextPooled
from tortoise.connection import get_connections

from server.db.outage import CannotConnect, DatabaseUnavailable, OutcomeUnknown, is_transient

T = TypeVar("T")

# Several requests failing at once need one expiry, not one each.
_EXPIRE_EVERY = 0.2


def _reads(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


async def connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg's connect; whatever stops it is CannotConnect, a passing failure."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except Exception as error:
        raise CannotConnect(str(error)) from error


async def _keep(connection: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: as it is. asyncpg still rolls back a
    transaction left open; its default reset query (advisory locks, cursors, LISTEN,
    settings) would undo what Stageflow never does on a pooled connection, at the cost of a
    round trip for every statement. Advisory locks here are transaction-scoped; the relay
    listens on its own connection."""


class _Transaction(TransactionContextPooled):
    """Tortoise's pooled transaction, except that the task never keeps a transaction whose
    BEGIN failed, nor one whose connection could not be given back.

    Tortoise makes the transaction the task's connection before BEGIN and forgets it only
    after the connection is back in the pool; a BEGIN or a release meeting a terminated
    backend skipped that, and every later statement of the task went to the dead
    connection: a request's retries all failed, and a supervised loop, which runs on in
    one task, failed for good."""

    async def __aenter__(self) -> Any:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:
            get_connections().reset(self.token)
            with contextlib.suppress(Exception):
                await pool.release(self.client._connection)
            raise
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        except BaseException:
            # Forgotten already unless the release failed.
            with contextlib.suppress(RuntimeError, ValueError):
                get_connections().reset(self.token)
            raise


class PostgresClient(AsyncpgDBClient):
    _expired_at = 0.0

    def _in_transaction(self) -> TransactionContext:
        return _Transaction(TransactionWrapper(self), self._pool_init_lock)

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(None, connect=connect, reset=_keep, **kwargs)

    async def expire(self) -> None:
        """Replace every pooled connection before it is used again."""
        now = time.monotonic()
        if now - self._expired_at < _EXPIRE_EVERY:
            return
        self._expired_at = now
        if self._pool is not None:
            await self._pool.expire_connections()

    async def _again(self, run: Callable[[], Awaitable[T]], query: str) -> T:
        try:
            return await run()
        except Exception as error:
            if not is_transient(error):
                raise
            await self.expire()
            if not _reads(query):
                raise OutcomeUnknown() from error
        try:
            return await run()
        except Exception as error:
            if is_transient(error):
                raise DatabaseUnavailable() from error
            raise

    async def execute_query(self, query: str, values: list | None = None) -> tuple[int, list[dict]]:
        return await self._again(
            lambda: super(PostgresClient, self).execute_query(query, values), query
        )

    async def execute_query_dict(self, query: str, values: list | None = None) -> list[dict]:
        return await self._again(
            lambda: super(PostgresClient, self).execute_query_dict(query, values), query
        )

    async def execute_insert(self, query: str, values: list) -> Any:
        return await self._again(
            lambda: super(PostgresClient, self).execute_insert(query, values), query
        )

    async def execute_many(self, query: str, values: list) -> None:
        await self._again(lambda: super(PostgresClient, self).execute_many(query, values), query)


client_class = PostgresClient
