"""Across workers and hosts: PostgreSQL LISTEN/NOTIFY carries new seqs to every process.

Writers call `pg_notify` inside the transaction that writes the event, so the
notification is delivered on commit only. Each process keeps one dedicated
connection listening and relays seqs to its local bus; when that connection
drops it reconnects and wakes every follower, who then catch up from the event rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

from server.db.client import connect
from server.events.bus import LocalBus
from server.events.supervisor import Supervisor

CHANNEL = "stageflow_events"
# How often an idle listening connection is asked whether it is still there.
CHECK_SECONDS = 10.0
log = logging.getLogger("stageflow.events")


def asyncpg_dsn(database_url: str) -> str:
    """The database URL without the pool options that only Tortoise understands."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class PostgresRelay:
    """Listens on one dedicated connection and relays seqs to the local bus.

    The listening runs under the supervisor: a lost connection ends it, and it starts
    again (logged and counted) after a pause.
    """

    NAME = "event-relay"

    def __init__(
        self,
        database_url: str,
        bus: LocalBus,
        supervisor: Supervisor,
        *,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._bus = bus
        self._supervisor = supervisor
        self._check = check_seconds
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._supervisor.start(self.NAME, self._listen)
        # Serve once listening, so that no commit after startup goes unannounced.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def stop(self) -> None:
        await self._supervisor.stop(self.NAME)

    async def _listen(self) -> None:
        """Relay until the connection is lost."""
        conn = await connect(
            self._dsn, server_settings={"application_name": "stageflow-relay"}, timeout=10
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self.connected.set()
            # Whatever committed while no one listened: followers re-read from the rows.
            newest = await conn.fetchval("SELECT stageflow_horizon()")
            self._bus.publish(int(newest))
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=self._check)
                if not lost.is_set():
                    # A connection that died without a word (a dropped network) answers no more.
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self._check)
            log.warning("event relay connection closed; reconnecting")
        finally:
            self.connected.clear()
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._bus.publish(int(payload))
