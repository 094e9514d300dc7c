"""Webhook deliveries: planned from the event log, leased to one sender at a time, settled.

The event log is the outbox. One planner at a time (the holder of the `webhook_plan`
counter row's lock) reads the events after its cursor, up to the horizon below which every
seq has committed or never will, and writes one delivery per event and webhook that wants
it, in the same transaction as the cursor's move: an event is planned once, and only once
it is committed. Senders lease due deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
workers never take the same one); a delivery waits while an earlier one of the same
instance to the same webhook is pending, so each receiver hears of an instance's events in
seq order. A lease that runs out (its worker died) makes the delivery due again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.connection import get_connection

from server.db import store, webhooks
from server.db.models import (
    ProcessRow,
    RecordRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from server.domain.events import Event, EventKind
from server.domain.webhook import DELIVERED_KINDS, DeliveryState, WebhookStatus

PLAN_BATCH = 500
PENDING = DeliveryState.PENDING.value


def _postgres() -> bool:
    return bool(get_connection("default").capabilities.dialect == "postgres")


async def plan(*, now: dt.datetime) -> int | None:
    """Inside a transaction: plan the deliveries of the next events. The number of events
    read, or None when another worker is planning."""
    conn = get_connection("default")
    lock = " FOR UPDATE SKIP LOCKED" if _postgres() else ""
    rows = await conn.execute_query_dict(
        f"SELECT value FROM counter WHERE name = 'webhook_plan'{lock}"
    )
    if not rows:
        return None
    cursor = int(rows[0]["value"])
    # The horizon first, then the webhooks: one made after this read has its start at or
    # past the horizon, so no event it wants is read before it is known here.
    horizon = await store.last_seq()
    hooks = await webhooks.current_webhooks()
    if not hooks:
        # Nothing wants anything: the cursor moves on without reading a row.
        if horizon > cursor:
            await _move_cursor(horizon)
        return 0
    # Nothing at or before the oldest webhook's start is wanted by any.
    start = max(cursor, min(hook.since_seq for hook in hooks))
    kinds = [kind for kind in EventKind if kind.value in DELIVERED_KINDS]
    read, _ = await store.feed_after(start, limit=PLAN_BATCH, kinds=kinds)
    events = [event for event in read if (event.seq or 0) <= horizon]
    full = len(read) == PLAN_BATCH and len(events) == len(read)
    reached = (events[-1].seq or start) if full else max(start, horizon)
    entities = await _entities(events)
    planned = [
        WebhookDeliveryRow(
            uid=str(uuid.uuid4()),
            webhook_id=hook.id,
            seq=event.seq,
            kind=event.kind.value,
            topics=sorted(topic.value for topic in topics),
            instance_id=event.instance_id,
            state=PENDING,
            attempts=0,
            next_at=now,
            created_at=now,
        )
        for event in events
        if event.kind.value in DELIVERED_KINDS
        for hook in hooks
        if (topics := hook.wants(event, entity=entities.get(event.seq or 0)))
    ]
    if planned:
        await WebhookDeliveryRow.bulk_create(planned, ignore_conflicts=True)
    if reached > cursor:
        await _move_cursor(reached)
    return len(read) if full else len(events)


async def _move_cursor(value: int) -> None:
    await get_connection("default").execute_query(
        "UPDATE counter SET value = $1 WHERE name = 'webhook_plan'"
        if _postgres()
        else "UPDATE counter SET value = ? WHERE name = 'webhook_plan'",
        [value],
    )


async def _entities(events: list[Event]) -> dict[int, str]:
    """The entity each event (by seq) is about: its record's; else its process's (a process
    across entities tells each change on the record it concerns)."""
    process_ids = {e.process_id for e in events if e.process_id is not None}
    record_ids = {e.record_id for e in events if e.record_id is not None}
    processes: dict[int, str] = {}
    if process_ids:
        rows = await ProcessRow.filter(id__in=process_ids).values_list("id", "entity_id")
        processes = {int(id): str(entity) for id, entity in rows}
    records: dict[int, str] = {}
    if record_ids:
        found = await RecordRow.filter(id__in=record_ids).values_list("id", "entity_id")
        records = {int(id): str(entity) for id, entity in found}
    return {
        event.seq or 0: entity
        for event in events
        if (entity := records.get(event.record_id or 0) or processes.get(event.process_id or 0))
    }


@dataclass(frozen=True)
class Leased:
    """A delivery taken by one sender until `lease_until`."""

    id: int
    uid: str
    webhook_id: int
    seq: int
    topics: tuple[str, ...]
    attempts: int
    created_at: dt.datetime
    lease: str


# The earlier delivery looked for is a subquery run per candidate (OFFSET 0 keeps PostgreSQL
# from turning it into a join), so it always finds it through the (webhook, instance, seq)
# index: as a join, planned on statistics taken while the table was nearly empty, each
# candidate read the whole table, and a backlog of a few thousand took seconds to lease from.
CLAIM_POSTGRES = """
WITH ready AS (
    SELECT d.id FROM webhook_delivery d
    JOIN webhook w ON w.id = d.webhook_id
    WHERE d.state = 'PENDING' AND d.next_at <= $1
      AND (d.lease_until IS NULL OR d.lease_until < $1)
      AND w.status = 'ACTIVE' AND w.deleted_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM webhook_delivery e
          WHERE e.webhook_id = d.webhook_id AND e.instance_id = d.instance_id
            AND e.seq < d.seq AND e.state = 'PENDING'
          OFFSET 0)
    ORDER BY d.next_at, d.seq
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_delivery SET lease = $3, lease_until = $4, attempts = attempts + 1
FROM ready WHERE webhook_delivery.id = ready.id
RETURNING webhook_delivery.id, uid, webhook_id, seq, topics, attempts, created_at
"""


async def lease(*, now: dt.datetime, limit: int, lease_seconds: float) -> list[Leased]:
    """Inside a transaction: take up to `limit` due deliveries for this sender."""
    token = str(uuid.uuid4())
    until = now + dt.timedelta(seconds=lease_seconds)
    if _postgres():
        rows = await get_connection("default").execute_query_dict(
            CLAIM_POSTGRES, [now, limit, token, until]
        )
        return sorted(
            (
                Leased(
                    id=int(row["id"]),
                    uid=row["uid"],
                    webhook_id=int(row["webhook_id"]),
                    seq=int(row["seq"]),
                    topics=tuple(_json(row["topics"])),
                    attempts=int(row["attempts"]),
                    created_at=row["created_at"],
                    lease=token,
                )
                for row in rows
            ),
            key=lambda leased: leased.seq,
        )
    return await _lease_one_writer(now=now, limit=limit, token=token, until=until)


async def _lease_one_writer(
    *, now: dt.datetime, limit: int, token: str, until: dt.datetime
) -> list[Leased]:
    """SQLite, one writer: the earliest pending delivery of each instance and webhook, if due."""
    active = set(
        await WebhookRow.filter(status=WebhookStatus.ACTIVE.value, deleted_at=None).values_list(
            "id", flat=True
        )
    )
    pending = await WebhookDeliveryRow.filter(state=PENDING).order_by("seq").limit(limit * 20)
    seen: set[tuple[int, int | None]] = set()
    taken: list[Leased] = []
    for row in pending:
        key = (row.webhook_id, row.instance_id)
        first = key not in seen
        seen.add(key)
        if not first or row.webhook_id not in active or row.next_at > now:
            continue
        if row.lease_until is not None and row.lease_until >= now:
            continue
        row.lease, row.lease_until, row.attempts = token, until, row.attempts + 1
        await row.save(update_fields=["lease", "lease_until", "attempts"])
        taken.append(
            Leased(
                row.id,
                row.uid,
                row.webhook_id,
                row.seq,
                tuple(row.topics),
                row.attempts,
                row.created_at,
                token,
            )
        )
        if len(taken) == limit:
            break
    return taken


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def next_due() -> dt.datetime | None:
    """When the earliest pending delivery of an active webhook is due."""
    row = (
        await WebhookDeliveryRow.filter(
            state=PENDING, webhook__status=WebhookStatus.ACTIVE.value, webhook__deleted_at=None
        )
        .order_by("next_at")
        .first()
        .only("id", "next_at")
    )
    return row.next_at if row else None


@dataclass(frozen=True)
class Tried:
    """How one try of a leased delivery went; `next_at`: when to try again (None: not again)."""

    leased: Leased
    at: dt.datetime
    status: int | None
    error: str | None
    duration_ms: int
    next_at: dt.datetime | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def state(self) -> DeliveryState:
        if self.ok:
            return DeliveryState.DELIVERED
        return DeliveryState.PENDING if self.next_at else DeliveryState.FAILED


SETTLE_POSTGRES = """
UPDATE webhook_delivery d SET state = v.state, lease = NULL, lease_until = NULL,
    next_at = v.next_at, delivered_at = v.delivered_at, last_status = v.status,
    last_error = v.error, last_duration_ms = v.took, last_attempt_at = v.at
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
            $6::int[], $7::text[], $8::int[], $9::timestamptz[])
     AS v(id, lease, state, next_at, delivered_at, status, error, took, at)
WHERE d.id = v.id AND d.lease = v.lease
RETURNING d.id
"""


async def settle(tries: list[Tried], *, pause_after: int) -> list[dict[str, Any]]:
    """Inside a transaction: record tries (in the order they ended) and settle their
    deliveries: DELIVERED, due again, or FAILED. A try whose lease had run out (another
    sender took the delivery over) is recorded and changes nothing else. Counts each
    webhook's failed tries in a row and pauses one that reaches `pause_after`; the paused
    webhooks' public fields, for their events."""
    if not tries:
        return []
    await WebhookAttemptRow.bulk_create(
        [
            WebhookAttemptRow(
                delivery_id=t.leased.id,
                n=t.leased.attempts,
                at=t.at,
                status=t.status,
                error=t.error,
                duration_ms=t.duration_ms,
                retry_at=t.next_at,
            )
            for t in tries
        ]
    )
    kept = await _settle_rows(tries)
    by_webhook: dict[int, list[Tried]] = {}
    for t in tries:
        if t.leased.id in kept:
            by_webhook.setdefault(t.leased.webhook_id, []).append(t)
    paused = []
    for webhook_id, ended in by_webhook.items():
        good = [n for n, t in enumerate(ended) if t.ok]
        failed = len(ended) - (good[-1] + 1 if good else 0)
        failures = await _count_failures(webhook_id, reset=bool(good), add=failed)
        if failed and failures >= pause_after:
            last = ended[-1].error
            reason = f"Paused after {failures} failed tries in a row; the last: {last}"
            done = await pause(webhook_id, reason=reason[:500], now=ended[-1].at)
            if done is not None:
                paused.append(done)
    return paused


async def _settle_rows(tries: list[Tried]) -> set[int]:
    if _postgres():
        rows = await get_connection("default").execute_query_dict(
            SETTLE_POSTGRES,
            [
                [t.leased.id for t in tries],
                [t.leased.lease for t in tries],
                [t.state.value for t in tries],
                [t.next_at or t.at for t in tries],
                [t.at if t.ok else None for t in tries],
                [t.status for t in tries],
                [t.error for t in tries],
                [t.duration_ms for t in tries],
                [t.at for t in tries],
            ],
        )
        return {int(row["id"]) for row in rows}
    kept = set()
    for t in tries:
        changed = await WebhookDeliveryRow.filter(id=t.leased.id, lease=t.leased.lease).update(
            state=t.state.value,
            lease=None,
            lease_until=None,
            next_at=t.next_at or t.at,
            delivered_at=t.at if t.ok else None,
            last_status=t.status,
            last_error=t.error,
            last_duration_ms=t.duration_ms,
            last_attempt_at=t.at,
        )
        if changed:
            kept.add(t.leased.id)
    return kept


async def _count_failures(webhook_id: int, *, reset: bool, add: int) -> int:
    """A webhook's failed tries in a row: `add` more, after a success if `reset`."""
    if reset and not add:
        await WebhookRow.filter(id=webhook_id, failures__gt=0).update(failures=0)
        return 0
    mark = ("$1", "$2") if _postgres() else ("?", "?")
    start = "0" if reset else "failures"
    rows = await get_connection("default").execute_query_dict(
        f"UPDATE webhook SET failures = {start} + {mark[0]} WHERE id = {mark[1]} RETURNING failures",
        [add, webhook_id],
    )
    return int(rows[0]["failures"]) if rows else 0


async def pause(webhook_id: int, *, reason: str, now: dt.datetime) -> dict[str, Any] | None:
    """Inside a transaction: pause an active webhook; its public fields, or None if it was
    not active."""
    row = await WebhookRow.filter(
        id=webhook_id, status=WebhookStatus.ACTIVE.value, deleted_at=None
    ).first()
    if row is None:
        return None
    changed = await WebhookRow.filter(id=webhook_id, version=row.version).update(
        status=WebhookStatus.PAUSED.value,
        paused_reason=reason,
        version=row.version + 1,
        updated_at=now,
    )
    if not changed:
        return None
    return {"id": row.id, "url": row.url, "status": "PAUSED", "reason": reason}
