"""Webhooks as stored: the registry's rows as domain values, and the registry's writes.

Each write of the registry is a compare-and-set on the webhook's version and writes only
the columns it changes, so a change made meanwhile by the sender (counting failures,
pausing) is refused as a VersionConflict, never overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from server.db.models import (
    EntityRow,
    ProcessRow,
    ProcessVersionRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from server.db.store import Page, id_from_cursor
from server.domain.errors import NotFound, VersionConflict
from server.domain.events import EventKind
from server.domain.webhook import DeliveryState, Webhook, WebhookStatus, WebhookTopic
from server.domain.webhook_registry import Delivery, DeliveryTry


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


async def targets_of(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Where deliveries go and the secret each is signed with, by webhook (removed ones are
    left out): read by the sender only."""
    rows = await WebhookRow.filter(id__in=set(ids), deleted_at=None).only("id", "url", "secret")
    return {row.id: (row.url, row.secret) for row in rows}


# The registry


async def webhook_by_id(id: int) -> Webhook:
    """A webhook not removed, else NotFound."""
    row = await WebhookRow.get_or_none(id=id, deleted_at=None)
    if row is None:
        raise NotFound("Webhook", id)
    return webhook(row)


async def count_webhooks() -> int:
    return await WebhookRow.filter(deleted_at=None).count()


async def insert_webhook(value: Webhook, *, secret: str) -> Webhook:
    row = await WebhookRow.create(
        **webhook_columns(value),
        secret=secret,
        since_seq=value.since_seq,
        created_by=value.created_by,
        created_at=value.created_at,
    )
    return webhook(row)


# The columns each kind of registry change writes.
SETTINGS = ("url", "description", "topics", "process_ids", "stages", "entities")
PAUSE = ("status", "paused_reason")
RESUME = ("status", "paused_reason", "failures")


async def save_webhook(old: Webhook, new: Webhook, *, columns: Iterable[str]) -> None:
    """Write `columns` of `new` (and its version and updated_at) over `old`, if the row is
    still at `old.version`; else VersionConflict (NotFound once removed)."""
    given = webhook_columns(new)
    values = {name: given[name] for name in columns}
    await _set(old, version=new.version, updated_at=new.updated_at, **values)


async def set_secret(old: Webhook, secret: str, *, now: dt.datetime) -> Webhook:
    """A new secret, compare-and-set on the version; the webhook as it is after."""
    await _set(old, secret=secret, version=old.version + 1, updated_at=now)
    return await webhook_by_id(old.id or 0)


async def remove_webhook(old: Webhook, *, now: dt.datetime, reason: str) -> None:
    """Mark the webhook removed; its deliveries still waiting are given up with `reason`
    (the sender reads no secret of a removed webhook, so they could not go out)."""
    await _set(old, deleted_at=now, version=old.version + 1, updated_at=now)
    await WebhookDeliveryRow.filter(webhook_id=old.id, state=DeliveryState.PENDING.value).update(
        state=DeliveryState.FAILED.value, last_error=reason, lease=None, lease_until=None
    )


async def send_waiting_now(webhook_id: int, *, now: dt.datetime) -> None:
    """The webhook's waiting deliveries are due at once."""
    await WebhookDeliveryRow.filter(
        webhook_id=webhook_id, state=DeliveryState.PENDING.value
    ).update(next_at=now)


async def _set(old: Webhook, **values: Any) -> None:
    done = await WebhookRow.filter(id=old.id, version=old.version, deleted_at=None).update(**values)
    if not done:
        current = await webhook_by_id(old.id or 0)  # NotFound once removed
        raise VersionConflict("Webhook", old.id, current=current.version, expected=old.version)


async def existing_processes(ids: Iterable[int]) -> set[int]:
    found: list[Any] = await ProcessRow.filter(id__in=list(ids)).values_list("id", flat=True)
    return {int(id) for id in found}


async def existing_entities(keys: Iterable[str]) -> set[str]:
    found: list[Any] = await EntityRow.filter(key__in=list(keys)).values_list("key", flat=True)
    return {str(key) for key in found}


async def stage_keys(process_ids: Iterable[int] | None) -> set[str]:
    """The stage keys of every published version and open draft of the processes (None:
    of every process)."""
    versions = ProcessVersionRow.all()
    drafts = ProcessRow.filter(draft__not_isnull=True)
    if process_ids is not None:
        ids = list(process_ids)
        versions, drafts = versions.filter(process_id__in=ids), drafts.filter(id__in=ids)
    definitions: list[Any] = [
        *await versions.values_list("definition", flat=True),
        *await drafts.values_list("draft", flat=True),
    ]
    keys: set[str] = set()
    for definition in definitions:
        stages = definition.get("stages") if isinstance(definition, dict) else None
        stage: Any
        for stage in stages if isinstance(stages, list) else ():
            if isinstance(stage, dict) and isinstance(stage.get("key"), str):
                keys.add(stage["key"])
    return keys


# Deliveries, as their log shows them


def delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        uid=row.uid,
        webhook_id=row.webhook_id,
        seq=row.seq,
        kind=EventKind(row.kind),
        topics=frozenset(WebhookTopic(t) for t in row.topics),
        instance_id=row.instance_id,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_at=row.next_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        last_status=row.last_status,
        last_error=row.last_error,
        last_duration_ms=row.last_duration_ms,
        last_attempt_at=row.last_attempt_at,
    )


async def deliveries_page(
    webhook_id: int, *, state: DeliveryState | None, first: int, after: str | None
) -> Page:
    """A webhook's deliveries, newest first, after the cursor of the last one read."""
    query = WebhookDeliveryRow.filter(webhook_id=webhook_id)
    if state is not None:
        query = query.filter(state=state.value)
    before = id_from_cursor(after)
    shown = query.filter(id__lt=before) if before else query
    rows = await shown.order_by("-id").limit(first + 1)
    return Page(
        items=[delivery(row) for row in rows[:first]], has_next=len(rows) > first, count=query.count
    )


async def delivery_by_uid(uid: str) -> Delivery:
    """A delivery of a webhook not removed, else NotFound."""
    row = await WebhookDeliveryRow.get_or_none(uid=uid, webhook__deleted_at=None)
    if row is None:
        raise NotFound("Delivery", uid)
    return delivery(row)


async def send_again(old: Delivery, *, now: dt.datetime) -> Delivery | None:
    """The delivery waiting to go out at once, its uid and tries kept; None if its state
    moved on since it was read."""
    done = await WebhookDeliveryRow.filter(id=old.id, state=old.state.value).update(
        state=DeliveryState.PENDING.value, next_at=now, lease=None, lease_until=None
    )
    if not done:
        return None
    return delivery(await WebhookDeliveryRow.get(id=old.id))


async def tries_of(delivery_ids: Iterable[int], *, last: int) -> dict[int, list[DeliveryTry]]:
    """The newest `last` tries of each delivery, oldest first."""
    rows = await WebhookAttemptRow.filter(delivery_id__in=list(set(delivery_ids))).order_by(
        "delivery_id", "-n"
    )
    found: dict[int, list[DeliveryTry]] = {}
    for row in rows:
        kept = found.setdefault(row.delivery_id, [])
        if len(kept) < last:
            kept.append(
                DeliveryTry(row.n, row.at, row.status, row.error, row.duration_ms, row.retry_at)
            )
    return {id: list(reversed(tries)) for id, tries in found.items()}
