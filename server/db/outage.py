"""When the database does not answer: which failures pass, and what callers are told.

A dropped connection, a terminated backend, a server restarting or refusing
connections for a moment: these pass, and the same work on a fresh connection
usually succeeds. Anything else (a constraint, bad SQL) is a real answer.

    DatabaseUnavailable      the database could not be reached; nothing was changed
    └── OutcomeUnknown       a commit was sent and its answer lost, and the change
                             could not be found or ruled out afterwards
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from tortoise.exceptions import DBConnectionError, OperationalError

T = TypeVar("T")

# What a client may do about it, in `extensions.code` of the GraphQL error.
UNAVAILABLE = "DATABASE_UNAVAILABLE"
UNKNOWN = "OUTCOME_UNKNOWN"


class DatabaseUnavailable(Exception):
    """The database could not be reached, even on a fresh connection; nothing was changed."""

    code = UNAVAILABLE

    def __init__(self, message: str = "The database is unavailable; nothing was changed.") -> None:
        super().__init__(message)
        self.message = message


class OutcomeUnknown(DatabaseUnavailable):
    """The change may or may not have been made: retry with the same idempotency key."""

    code = UNKNOWN

    def __init__(self) -> None:
        super().__init__(
            "The database stopped answering while the change was committed; it may or may not "
            "have been made. Retry with the same idempotency key to find out."
        )


class CannotConnect(ConnectionError):
    """A new connection to the database could not be made, whatever the server said (it
    may be starting, refusing connections to this database, or out of slots)."""


_POSTGRES_PASSING = (
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or does not exist
    asyncpg.exceptions.AdminShutdownError,  # 57P01: terminated by an administrator
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
    asyncpg.InterfaceError,  # the client's connection is closed or in a broken state
    asyncpg.InternalClientError,
)
# Retried by running the transaction again; not a sign that the database is away.
_CONTENTION = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it (Tortoise wraps driver errors; a failed rollback hides
    the failure it was cleaning up after)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _passes(error: BaseException) -> bool:
    if isinstance(error, DatabaseUnavailable):
        return False  # already judged: retrying happened where it was raised
    if isinstance(error, (*_POSTGRES_PASSING, DBConnectionError, ConnectionError)):
        return True
    if isinstance(error, OSError | TimeoutError):
        return True  # a refused or timed-out connect
    if isinstance(error, sqlite3.OperationalError | OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    return False


def is_transient(error: BaseException) -> bool:
    """A failure of the connection, not an answer of the database."""
    return any(_passes(e) for e in _chain(error))


def is_contention(error: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction may simply run again."""
    return any(isinstance(e, _CONTENTION) for e in _chain(error))


async def patiently(read: Callable[[], Awaitable[T]], *, max_delay: float = 1.0) -> T:
    """For work that outlives a request (a live feed): while the database is away, wait
    and read again, however long it takes; other failures are raised."""
    failures = 0
    while True:
        try:
            return await read()
        except Exception as error:
            if not (is_transient(error) or isinstance(error, DatabaseUnavailable)):
                raise
            failures += 1
            await asyncio.sleep(min(max_delay, 0.05 * 2**failures))
