"""Webhooks as stored: the registry's rows as domain values."""

from __future__ import annotations

from typing import Any

from server.db.models import WebhookRow
from server.domain.webhook import Webhook, WebhookStatus, WebhookTopic


def webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        description=row.description,
        topics=frozenset(WebhookTopic(t) for t in row.topics),
        process_ids=frozenset(int(p) for p in row.process_ids),
        stages=frozenset(row.stages),
        entities=frozenset(row.entities),
        status=WebhookStatus(row.status),
        paused_reason=row.paused_reason,
        failures=row.failures,
        since_seq=row.since_seq,
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def webhook_columns(value: Webhook) -> dict[str, Any]:
    """The columns a change to a webhook writes (not its secret)."""
    return {
        "url": value.url,
        "description": value.description,
        "topics": sorted(t.value for t in value.topics),
        "process_ids": sorted(value.process_ids),
        "stages": sorted(value.stages),
        "entities": sorted(value.entities),
        "status": value.status.value,
        "paused_reason": value.paused_reason,
        "failures": value.failures,
        "version": value.version,
        "updated_at": value.updated_at,
    }


async def current_webhooks() -> list[Webhook]:
    """Every webhook not removed, active or paused (a paused one's deliveries wait)."""
    rows = await WebhookRow.filter(deleted_at=None).order_by("id")
    return [webhook(row) for row in rows]


async def target_of(id: int) -> tuple[str, str] | None:
    """Where a delivery goes and the secret it is signed with: read by the sender only."""
    row = await WebhookRow.get_or_none(id=id, deleted_at=None).only("id", "url", "secret")
    return (row.url, row.secret) if row else None
