"""Across workers and hosts: PostgreSQL LISTEN/NOTIFY carries new seqs to every process.

Writers call `pg_notify` inside the transaction that writes the event, so the
notification is delivered on commit only. Each process keeps one dedicated
connection listening and relays seqs to its local bus; when that connection
drops it reconnects by itself and wakes every follower, who then catch up from
the event rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.events.bus import LocalBus

CHANNEL = "stageflow_events"
log = logging.getLogger("stageflow.events")


def asyncpg_dsn(database_url: str) -> str:
    """The database URL without the pool options that only Tortoise understands."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class PostgresRelay:
    """Listens on one dedicated connection and relays seqs to the local bus."""

    def __init__(self, database_url: str, bus: LocalBus, *, retry_seconds: float = 1.0) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._bus = bus
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stageflow-postgres-relay")
        # Serve once listening, so that no commit after startup goes unannounced.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
                log.warning("event relay connection closed; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event relay lost its connection: %s; reconnecting", exc)
            self.connected.clear()
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "stageflow-relay"}
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self.connected.set()
            # Whatever committed while no one listened: followers re-read from the rows.
            newest = await conn.fetchval("SELECT value FROM counter WHERE name = 'event'")
            await self._bus.publish(int(newest))
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            asyncio.get_running_loop().create_task(self._bus.publish(int(payload)))
