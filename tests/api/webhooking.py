"""Webhooks in the API tests: an app whose senders reach this machine and retry in tenths
of seconds, and webhooks registered as the registry stores them."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from documents import ADVANCE, COMPLETE_STEP
from starlette.applications import Starlette

from server.app import create_app
from server.db import store
from server.db.models import WebhookRow
from server.domain.events import Event, EventKind
from server.domain.webhook import WebhookTopic
from server.services.seed import seed
from server.settings import Settings

ALL = [topic.value for topic in WebhookTopic]


def fast(database_url: str, **overrides: Any) -> Settings:
    """Settings for a receiver on this machine, with retries in tenths of seconds."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_allow_private": True,
        "webhook_retry_first_seconds": 0.1,
        "webhook_retry_longest_seconds": 1.6,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Starlette]:
    """The app, started and seeded."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await seed(application.state.runtime)
        yield application


async def until(check: Any, timeout: float = 30) -> None:
    """Wait for an async `check` to hold."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def register(
    url: str, *, secret: str, topics: list[str] = ALL, **filters: list[Any]
) -> tuple[WebhookRow, Event]:
    """A webhook hearing of what commits from now on, as the registry stores it."""
    now = dt.datetime.now(dt.UTC)
    row = await WebhookRow.create(
        url=url,
        secret=secret,
        topics=topics,
        process_ids=filters.get("process_ids", []),
        stages=filters.get("stages", []),
        entities=filters.get("entities", []),
        status="ACTIVE",
        failures=0,
        since_seq=await store.last_seq(),
        version=1,
        created_by="t",
        created_at=now,
        updated_at=now,
    )
    # What the registry does when it commits one: the senders look again.
    event = await store.append_event(Event(EventKind.WEBHOOK_CREATED, "t", now, after={}))
    return row, event


async def made(app: Starlette, url: str, **options: Any) -> WebhookRow:
    row, event = await register(url, **options)
    app.state.runtime.hub.tell(event)
    app.state.runtime.bus.publish(event.seq)
    return row


async def fill_and_advance(gql: Any, instance: str, budget: int) -> None:
    for field, value in (("estimated_budget", budget), ("decision_maker_identified", True)):
        await gql.execute(
            COMPLETE_STEP, {"input": {"instanceId": instance, "field": field, "value": value}}
        )
    moved = await gql.execute(ADVANCE, {"input": {"instanceId": instance}})
    assert moved["advanceStage"]["__typename"] == "StageAdvanced", moved
