"""Rows read and written straight in the database a server or a command uses, for what
the API does not make (a webhook delivery, which only the sender writes)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg


async def _on_postgres(database_url: str, sql: str, args: tuple[Any, ...]) -> list[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        numbered = sql
        for n in range(1, len(args) + 1):
            numbered = numbered.replace("?", f"${n}", 1)
        return [tuple(r) for r in await conn.fetch(numbered, *args)]
    finally:
        await conn.close()


def rows(database_url: str, sql: str, *args: Any) -> list[Any]:
    """Run one statement (`?` for each argument); its rows as tuples."""
    if database_url.startswith("postgres"):
        return asyncio.run(_on_postgres(database_url, sql, args))
    with sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30) as conn:
        return list(conn.execute(sql, args).fetchall())


def add_delivery(database_url: str, webhook_id: int, uid: str, *, seq: int, state: str) -> None:
    """A delivery of event `seq` tried three times, the last answered 500."""
    rows(
        database_url,
        "INSERT INTO webhook_delivery (uid, webhook_id, seq, kind, topics, state, attempts, "
        "next_at, created_at, last_status, last_error, last_duration_ms, last_attempt_at) "
        "VALUES (?, ?, ?, 'STAGE_ADVANCED', '[\"STAGE_ENTERED\"]', ?, 3, "
        "'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', 500, 'server error', 120, "
        "'2026-01-01 00:05:00+00:00')",
        uid,
        webhook_id,
        seq,
        state,
    )
