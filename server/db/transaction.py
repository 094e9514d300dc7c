"""One transaction, run again when its connection fails, and never misreported.

- A failure before COMMIT was sent: nothing was committed (a backend that loses its
  client rolls back), so the transaction runs again on a fresh connection.
- A deadlock or serialization failure: PostgreSQL rolled it back; it runs again, up to
  CLASHES times in all, after a pause that grows each time.
- A failure while committing: the change may have been made. Once the old backend has
  gone (so its commit can no longer land), the caller's `landed` looks for the change
  on a fresh connection: found, the result stands; not found, it runs again. If the
  database stays away, the answer is OutcomeUnknown.
- A refusal raised by the body stands, even if the rollback after it failed.

`once` runs a single statement, a transaction of its own, the same way: any failure of its
connection may have come after its commit, so its writes are looked for before it runs again.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from server.db.outage import DatabaseUnavailable, OutcomeUnknown, is_contention, is_transient

T = TypeVar("T")
R = TypeVar("R")

ATTEMPTS = 3
# How many times a transaction runs in all when it keeps meeting others in a deadlock or a
# serialization failure: each time PostgreSQL rolled it back whole, so running it again is
# safe, and with many writers on the same records a few such meetings in a row happen.
CLASHES = 8
# How long a commit whose answer was lost is looked for before giving up on knowing.
RESOLVE_SECONDS = 5.0


async def run(
    body: Callable[[], Awaitable[T]],
    *,
    landed: Callable[[T], Awaitable[bool]] | None = None,
    attempts: int = ATTEMPTS,
) -> T:
    """Run `body` in a transaction; what it returned, once committed.

    `landed(result)` tells whether a commit whose answer was lost was made; without it,
    such a commit is OutcomeUnknown.
    """
    failures = clashes = 0
    while True:
        finished = False
        backend: int | None = None
        raised: BaseException | None = None
        try:
            async with in_transaction() as connection:
                backend = _backend_pid(connection)
                try:
                    result = await body()
                except BaseException as error:
                    raised = error
                    raise
                finished = True
            return result
        except Exception as error:
            if raised is not None and not is_transient(raised) and not is_contention(raised):
                # The body's own answer (a refusal, a bug); a failed rollback changes nothing.
                raise raised from None
            if is_contention(error):
                clashes += 1
                if clashes < CLASHES:
                    await asyncio.sleep(clash_pause(clashes))
                    continue
                raise
            if not is_transient(error):
                raise
            failures += 1
            await expire_connections()
            if finished:
                if landed is None:
                    raise OutcomeUnknown() from error
                if await _resolve(backend, functools.partial(landed, result)):
                    return result
            if failures == attempts:
                raise DatabaseUnavailable() from error


def clash_pause(clashes: int) -> float:
    """The pause before a transaction runs again after its `clashes`-th deadlock or
    serialization failure in a row: doubling from 10 ms up to 320 ms, with jitter, so that
    the transactions that met do not meet again in step."""
    return min(0.32, 0.01 * 2 ** (clashes - 1)) * random.uniform(0.5, 1.0)


async def once(
    statement: Callable[[Any], Awaitable[T]],
    *,
    landed: Callable[[], Awaitable[T | None]],
    attempts: int = ATTEMPTS,
) -> T:
    """Run `statement(connection)`, one statement and so a transaction of its own, on a
    pooled asyncpg connection (PostgreSQL); what it returned. When the connection fails,
    the statement may have committed: once its backend has gone, `landed()` looks for what
    it wrote, and what it finds stands; found nothing, it runs again."""
    client: Any = get_connection("default")
    for attempt in range(1, attempts + 1):
        backend: int | None = None
        try:
            async with client.acquire_connection() as connection:
                backend = int(connection.get_server_pid())
                return await statement(connection)
        except Exception as error:
            if is_contention(error) and attempt < attempts:
                await asyncio.sleep(clash_pause(attempt))
                continue
            if not is_transient(error):
                raise
            await expire_connections()
            hit = await _resolve(backend, landed) if backend is not None else None
            if hit is not None:
                return hit
            if attempt == attempts:
                raise DatabaseUnavailable() from error
    raise AssertionError("unreachable")


async def expire_connections() -> None:
    """After a connection failed, take no pooled connection made before it."""
    client: Any = get_connection("default")
    expire = getattr(client, "expire", None)
    if expire is not None:
        await expire()


def _backend_pid(connection: Any) -> int | None:
    """The PostgreSQL backend serving this transaction (None on SQLite)."""
    raw = getattr(connection, "_connection", None)
    pid = getattr(raw, "get_server_pid", None)
    return int(pid()) if callable(pid) else None


async def _resolve(backend: int | None, landed: Callable[[], Awaitable[R]]) -> R:
    """What `landed` finds of the commit, asked once the backend that served it has gone;
    OutcomeUnknown if that cannot be found out in time."""
    deadline = time.monotonic() + RESOLVE_SECONDS
    while True:
        try:
            if backend is not None:
                await _wait_gone(backend, deadline)
            return await landed()
        except Exception as error:
            if not (is_transient(error) or isinstance(error, DatabaseUnavailable)):
                raise
            if time.monotonic() > deadline:
                raise OutcomeUnknown() from error
            await asyncio.sleep(0.1)


async def _wait_gone(backend: int, deadline: float) -> None:
    """Until the backend that served the transaction has exited: from then on its commit
    either is visible or never will be."""
    client = get_connection("default")
    while await client.execute_query_dict(
        "SELECT 1 FROM pg_stat_activity WHERE pid = $1", [backend]
    ):
        if time.monotonic() > deadline:
            raise OutcomeUnknown()
        await asyncio.sleep(0.05)
