"""The webhook registry's rules: what a webhook may be registered with, what its audit
events say of it (never its secret), and a delivery's log as designers read it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.domain.errors import InvalidValue
from server.domain.events import EventKind
from server.domain.text import check_text
from server.domain.webhook import DeliveryState, Webhook, WebhookTopic, check_filter

# Registered at once (removed ones not counted). The list of them, each with filters of up to
# MAX_FILTER_ITEMS, stays within the cost a query may have (server/api/cost.py).
MAX_WEBHOOKS = 50
MAX_DESCRIPTION = 200
MAX_KEY = 64  # a stage or entity key
PAUSED_BY = "Paused by {}"
REMOVED = "webhook removed"


@dataclass(frozen=True)
class DeliveryTry:
    n: int
    at: dt.datetime
    status: int | None
    error: str | None
    duration_ms: int
    # When this failed try set the next one for (None: delivered, or given up).
    retry_at: dt.datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """One event for one webhook: `uid` is the id the receiver sees (Stageflow-Delivery)."""

    id: int
    uid: str
    webhook_id: int
    seq: int
    kind: EventKind
    topics: frozenset[WebhookTopic]
    instance_id: int | None
    state: DeliveryState
    attempts: int
    next_at: dt.datetime
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    last_duration_ms: int | None
    last_attempt_at: dt.datetime | None


# Deliveries sent again on request: one given up on, or one delivered that the receiver lost.
REDELIVERABLE = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED})


def check_description(description: str) -> str:
    return check_text("description", description.strip(), limit=MAX_DESCRIPTION)


def check_keys(name: str, keys: Iterable[str]) -> frozenset[str]:
    """Stage or entity keys as a filter lists them: stripped, each 1 to 64 characters."""
    found = frozenset(key.strip() for key in keys)
    check_filter(name, found)
    for key in found:
        if not key:
            raise InvalidValue(name, "a key is not empty")
        check_text(name, key, limit=MAX_KEY)
    return found


def check_process_ids(ids: Iterable[int]) -> frozenset[int]:
    found = frozenset(ids)
    check_filter("processIds", found)
    return found


def unknown(name: str, what: str, missing: Iterable[object]) -> InvalidValue:
    """The refusal of filter items that name nothing: `what` says what they should name."""
    names = ", ".join(sorted(str(m) for m in missing)[:10])
    return InvalidValue(name, f"no {what} {names}")


def public(webhook: Webhook) -> dict[str, Any]:
    """What the audit trail says of a webhook: everything but its secret."""
    return {
        "webhookId": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "topics": sorted(t.value for t in webhook.topics),
        "processIds": sorted(webhook.process_ids),
        "stages": sorted(webhook.stages),
        "entities": sorted(webhook.entities),
        "status": webhook.status.value,
        "pausedReason": webhook.paused_reason,
        "version": webhook.version,
    }
