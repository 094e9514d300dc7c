"""Stays past their due: one STAGE_OVERDUE event each, across every worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from server.db import overdue, store, transaction
from server.domain.events import Event
from server.services.runtime import Runtime, announce, utcnow

NAME = "overdue"
BATCH = 500

log = logging.getLogger("stageflow.overdue")


async def mark_overdue(rt: Runtime, *, now: dt.datetime, batch: int = BATCH) -> int:
    """Mark every open stay due by `now` overdue, one transaction per batch, and announce
    each one's event once committed; how many were marked."""
    marked = 0

    async def entity_of(process_id: int, version: int, stage: str) -> str:
        process = await rt.catalog.version(process_id, version)
        found = process.stage(stage)
        return (process.entity_of(found) if found is not None else process.entity).key

    while True:

        async def scan() -> list[Event]:
            return await overdue.mark_batch(now, limit=batch, entity_of=entity_of)

        async def landed(events: list[Event]) -> bool:
            return not events or await store.event_landed(events[-1])

        events = await transaction.run(scan, landed=landed)
        for event in events:
            announce(rt, event)
        marked += len(events)
        if len(events) < batch:
            return marked


async def watch(rt: Runtime, *, interval: float) -> None:
    """Look for stays past their due every `interval` seconds, until cancelled."""
    while True:
        marked = await mark_overdue(rt, now=utcnow())
        if marked:
            log.info("%d stays past their due", marked)
        await asyncio.sleep(interval)
