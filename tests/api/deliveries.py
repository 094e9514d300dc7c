"""Deliveries and their tries for tests, written straight to the tables (the registry
only reads and reschedules them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from server.db.models import WebhookAttemptRow, WebhookDeliveryRow


async def make_delivery(
    webhook_id: int | str,
    *,
    seq: int,
    state: str = "FAILED",
    attempts: int = 0,
    next_at: dt.datetime | None = None,
    kind: str = "STAGE_ADVANCED",
    statuses: tuple[int | None, ...] = (),
    **columns: Any,
) -> WebhookDeliveryRow:
    """A delivery of event `seq`, with a try for each of `statuses` (None: no answer)."""
    now = dt.datetime.now(dt.UTC)
    row = await WebhookDeliveryRow.create(
        uid=str(uuid.uuid4()),
        webhook_id=int(webhook_id),
        seq=seq,
        kind=kind,
        topics=["STAGE_ENTERED", "STAGE_LEFT"],
        instance_id=None,
        state=state,
        attempts=attempts or len(statuses),
        next_at=next_at or now,
        created_at=now,
        **columns,
    )
    for n, status in enumerate(statuses, start=1):
        await WebhookAttemptRow.create(
            delivery_id=row.id,
            n=n,
            at=now,
            status=status,
            error=None if status else "connection refused",
            duration_ms=10 * n,
        )
    return row
