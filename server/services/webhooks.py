"""The webhook registry: designers and admins register, change, pause, resume and remove
webhooks, renew their secrets and send a delivery again.

Each change writes one event in its transaction; its `after` holds the webhook's public
fields, never its secret, which only `create_webhook` and `renew_secret` return, once.
A change that changes nothing writes no event. A removed webhook's deliveries still
waiting are given up (FAILED, "webhook removed"); its log stays in the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from server.db import store
from server.db import webhooks as stored
from server.domain.errors import InvalidTransition, InvalidValue, NotFound, TransitionCode
from server.domain.events import Event, EventKind
from server.domain.text import unstorable
from server.domain.webhook import (
    DeliveryState,
    Webhook,
    WebhookStatus,
    WebhookTopic,
    check_topics,
    check_url,
    new_secret,
)
from server.domain.webhook_registry import (
    MAX_WEBHOOKS,
    PAUSED_BY,
    REDELIVERABLE,
    REMOVED,
    Delivery,
    DeliveryTry,
    check_description,
    check_keys,
    check_process_ids,
    public,
    unknown,
)
from server.services.outbound import check_reachable
from server.services.queries import check_filter, check_page
from server.services.runtime import Change, Runtime, check_version, commit, utcnow

CURSOR_LENGTH = 100
MAX_UID = 36
# What a change runs besides writing the webhook, in the same transaction.
_Also = Callable[[dt.datetime], Awaitable[None]]


@dataclass(frozen=True)
class WithSecret:
    """A webhook and its signing secret, shown this once."""

    webhook: Webhook
    secret: str


@dataclass(frozen=True)
class Filters:
    """Which deliveries a webhook wants: empty sets stand for any."""

    process_ids: frozenset[int]
    stages: frozenset[str]
    entities: frozenset[str]


async def list_webhooks() -> list[Webhook]:
    return await stored.current_webhooks()


async def get_webhook(webhook_id: int) -> Webhook:
    return await stored.webhook_by_id(webhook_id)


async def create_webhook(
    rt: Runtime,
    *,
    url: str,
    description: str = "",
    topics: Iterable[WebhookTopic],
    process_ids: Iterable[int] = (),
    stages: Iterable[str] = (),
    entities: Iterable[str] = (),
    by: str,
    reach_private: bool = False,
) -> WithSecret:
    """Register a webhook; it hears of events committed from now on. Its URL may not name a
    private address unless `reach_private` (STAGEFLOW_WEBHOOK_ALLOW_PRIVATE)."""
    url, description, chosen = check_url(url), check_description(description), check_topics(topics)
    url = await check_reachable(url, allow_private=reach_private)
    filters = await _filters(process_ids, stages, entities)
    if await stored.count_webhooks() >= MAX_WEBHOOKS:
        raise InvalidValue("webhooks", f"at most {MAX_WEBHOOKS} webhooks are registered at once")
    secret, now = new_secret(), utcnow()
    value = Webhook(
        id=None,
        url=url,
        description=description,
        topics=chosen,
        process_ids=filters.process_ids,
        stages=filters.stages,
        entities=filters.entities,
        status=WebhookStatus.ACTIVE,
        paused_reason=None,
        failures=0,
        since_seq=await store.last_seq(),
        version=1,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    made: list[Webhook] = []

    async def change() -> Change:
        made.append(await stored.insert_webhook(value, secret=secret))
        return Change(event=_event(EventKind.WEBHOOK_CREATED, by, now, None, made[-1]))

    await commit(rt, change, kind=EventKind.WEBHOOK_CREATED, by=by, idempotency_key=None)
    return WithSecret(made[-1], secret)


async def update_webhook(
    rt: Runtime,
    *,
    webhook_id: int,
    expected_version: int | None = None,
    url: str | None = None,
    description: str | None = None,
    topics: Iterable[WebhookTopic] | None = None,
    process_ids: Iterable[int] | None = None,
    stages: Iterable[str] | None = None,
    entities: Iterable[str] | None = None,
    by: str,
    reach_private: bool = False,
) -> Webhook:
    """Change what is given; the rest stays."""
    if url is not None:
        url = await check_reachable(check_url(url), allow_private=reach_private)
    old = await _at(webhook_id, expected_version)
    filters = await _filters(
        old.process_ids if process_ids is None else process_ids,
        old.stages if stages is None else stages,
        old.entities if entities is None else entities,
    )
    new = replace(
        old,
        url=old.url if url is None else url,
        description=old.description if description is None else check_description(description),
        topics=old.topics if topics is None else check_topics(topics),
        process_ids=filters.process_ids,
        stages=filters.stages,
        entities=filters.entities,
    )
    if new == old:
        return old
    return await _change(
        rt, old, new, kind=EventKind.WEBHOOK_UPDATED, by=by, columns=stored.SETTINGS
    )


async def pause_webhook(
    rt: Runtime, *, webhook_id: int, expected_version: int | None = None, by: str
) -> Webhook:
    """Stop its deliveries: they wait, and go out once it is resumed."""
    old = await _at(webhook_id, expected_version)
    if old.status is WebhookStatus.PAUSED:
        return old
    new = replace(old, status=WebhookStatus.PAUSED, paused_reason=PAUSED_BY.format(by))
    return await _change(rt, old, new, kind=EventKind.WEBHOOK_PAUSED, by=by, columns=stored.PAUSE)


async def resume_webhook(
    rt: Runtime, *, webhook_id: int, expected_version: int | None = None, by: str
) -> Webhook:
    """Deliver again, from a clean count of failures; what waits goes out at once."""
    old = await _at(webhook_id, expected_version)
    if old.status is WebhookStatus.ACTIVE:
        return old
    new = replace(old, status=WebhookStatus.ACTIVE, paused_reason=None, failures=0)

    async def also(now: dt.datetime) -> None:
        await stored.send_waiting_now(webhook_id, now=now)

    return await _change(
        rt, old, new, kind=EventKind.WEBHOOK_RESUMED, by=by, columns=stored.RESUME, also=also
    )


async def delete_webhook(
    rt: Runtime, *, webhook_id: int, expected_version: int | None = None, by: str
) -> Webhook:
    """Remove it: nothing more is delivered, and what waits is given up."""
    old = await _at(webhook_id, expected_version)
    now = utcnow()

    async def change() -> Change:
        await stored.remove_webhook(old, now=now, reason=REMOVED)
        gone = replace(old, version=old.version + 1, updated_at=now)
        return Change(event=_event(EventKind.WEBHOOK_DELETED, by, now, old, gone))

    await commit(rt, change, kind=EventKind.WEBHOOK_DELETED, by=by, idempotency_key=None)
    return replace(old, version=old.version + 1, updated_at=now)


async def renew_secret(
    rt: Runtime, *, webhook_id: int, expected_version: int | None = None, by: str
) -> WithSecret:
    """A new signing secret, in use for every try from now on; the old one stops."""
    old = await _at(webhook_id, expected_version)
    secret, now = new_secret(), utcnow()
    renewed: list[Webhook] = []

    async def change() -> Change:
        renewed.append(await stored.set_secret(old, secret, now=now))
        return Change(event=_event(EventKind.WEBHOOK_SECRET_RENEWED, by, now, old, renewed[-1]))

    await commit(rt, change, kind=EventKind.WEBHOOK_SECRET_RENEWED, by=by, idempotency_key=None)
    return WithSecret(renewed[-1], secret)


async def redeliver(rt: Runtime, *, delivery_uid: str, by: str) -> Delivery:
    """Send a delivered or failed delivery again, at once (after the webhook is resumed,
    if it is paused): same uid, its tries kept."""
    if len(delivery_uid) > MAX_UID or unstorable(delivery_uid):
        raise NotFound("Delivery", delivery_uid[:40])
    old = await stored.delivery_by_uid(delivery_uid)
    if old.state not in REDELIVERABLE:
        raise _still_pending()
    sent: list[Delivery] = []

    async def change() -> Change:
        now = utcnow()
        again = await stored.send_again(old, now=now)
        if again is None:  # sent or given up meanwhile: judged again on what is there
            raise _still_pending()
        sent.append(again)
        event = Event(
            EventKind.WEBHOOK_REDELIVERED,
            by,
            now,
            before={"webhookId": old.webhook_id, "deliveryId": old.uid, "state": old.state.value},
            after={
                "webhookId": old.webhook_id,
                "deliveryId": old.uid,
                "seq": old.seq,
                "state": again.state.value,
            },
        )
        return Change(event=event)

    await commit(rt, change, kind=EventKind.WEBHOOK_REDELIVERED, by=by, idempotency_key=None)
    return sent[-1]


async def deliveries(
    webhook_id: int, *, state: DeliveryState | None, first: int, after: str | None
) -> store.Page:
    """A webhook's delivery log, newest first."""
    return await stored.deliveries_page(
        webhook_id,
        state=state,
        first=check_page(first),
        after=check_filter("after", after, limit=CURSOR_LENGTH),
    )


async def recent_deliveries(webhook_id: int, *, first: int = 20) -> list[Delivery]:
    page = await stored.deliveries_page(webhook_id, state=None, first=first, after=None)
    return list(page.items)  # type: ignore[arg-type]


async def tries(delivery_ids: Iterable[int], *, last: int) -> dict[int, list[DeliveryTry]]:
    """Each delivery's newest `last` tries, oldest first."""
    return await stored.tries_of(delivery_ids, last=check_page(last, "last"))


def _still_pending() -> InvalidTransition:
    return InvalidTransition(
        TransitionCode.DELIVERY_PENDING,
        "this delivery is still waiting to go out; only a delivered or failed one is sent again",
    )


async def _at(webhook_id: int, expected_version: int | None) -> Webhook:
    webhook = await stored.webhook_by_id(webhook_id)
    check_version("Webhook", webhook_id, current=webhook.version, expected=expected_version)
    return webhook


async def _filters(
    process_ids: Iterable[int], stages: Iterable[str], entities: Iterable[str]
) -> Filters:
    """The filters, each item naming something that exists: a process, an entity, a stage
    of some version of the processes chosen (of any process, if none is)."""
    pids = check_process_ids(process_ids)
    stage_keys = check_keys("stages", stages)
    entity_keys = check_keys("entities", entities)
    if lost := pids - await stored.existing_processes(pids):
        raise unknown("processIds", "process with the id", lost)
    if missing := entity_keys - await stored.existing_entities(entity_keys):
        raise unknown("entities", "entity", missing)
    if stage_keys:
        known = await stored.stage_keys(pids or None)
        if missing := stage_keys - known:
            where = "in the processes chosen" if pids else "in any process"
            raise unknown("stages", f"stage {where}:", missing)
    return Filters(pids, stage_keys, entity_keys)


async def _change(
    rt: Runtime,
    old: Webhook,
    new: Webhook,
    *,
    kind: EventKind,
    by: str,
    columns: Iterable[str],
    also: _Also | None = None,
) -> Webhook:
    now = utcnow()
    new = replace(new, version=old.version + 1, updated_at=now)

    async def change() -> Change:
        await stored.save_webhook(old, new, columns=columns)
        if also is not None:
            await also(now)
        return Change(event=_event(kind, by, now, old, new))

    await commit(rt, change, kind=kind, by=by, idempotency_key=None)
    return new


def _event(
    kind: EventKind, by: str, now: dt.datetime, before: Webhook | None, after: Webhook
) -> Event:
    return Event(kind, by, now, before=public(before) if before else None, after=public(after))
