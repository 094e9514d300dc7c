"""Webhooks through the API, for designers and admins: the registry and each webhook's
delivery log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from server.api.connection import Connection, connection
from server.api.context import ctx
from server.api.enums import DeliveryState, EventKind, WebhookStatus, WebhookTopic
from server.api.errors import InvalidTransition, InvalidValue, NotFound, VersionConflict
from server.api.ids import parse_id
from server.domain import webhook as domain
from server.domain import webhook_registry as registry
from server.domain.errors import NotFound as NotFoundError
from server.services import webhooks

TRIES = "delivery tries"


@strawberry.type(description="One try of a delivery.")
class DeliveryTry:
    n: int
    at: dt.datetime
    status: int | None = strawberry.field(description="The HTTP status answered, if any.")
    error: str | None
    duration_ms: int
    retry_at: dt.datetime | None = strawberry.field(
        description="When this failed try set the next one for; null when none followed."
    )

    @classmethod
    def from_domain(cls, value: registry.DeliveryTry) -> DeliveryTry:
        return cls(
            n=value.n,
            at=value.at,
            status=value.status,
            error=value.error,
            duration_ms=value.duration_ms,
            retry_at=value.retry_at,
        )


@strawberry.type(description="One event for one webhook, tried until delivered or given up.")
class Delivery:
    id: strawberry.ID = strawberry.field(
        description="Sent as the Stageflow-Delivery header: the receiver's key to drop a "
        "duplicate; it stays when the delivery is sent again."
    )
    seq: int
    kind: EventKind
    topics: list[WebhookTopic]
    instance_id: strawberry.ID | None
    state: DeliveryState
    attempts: int
    next_at: dt.datetime | None = strawberry.field(
        description="When it is tried next; null once delivered or given up."
    )
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    last_duration_ms: int | None
    last_attempt_at: dt.datetime | None
    row_id: strawberry.Private[int]

    @classmethod
    def from_domain(cls, value: registry.Delivery) -> Delivery:
        pending = value.state is domain.DeliveryState.PENDING
        return cls(
            id=strawberry.ID(value.uid),
            seq=value.seq,
            kind=value.kind,
            topics=sorted(value.topics, key=lambda t: t.value),
            instance_id=strawberry.ID(str(value.instance_id)) if value.instance_id else None,
            state=value.state,
            attempts=value.attempts,
            next_at=value.next_at if pending else None,
            created_at=value.created_at,
            delivered_at=value.delivered_at,
            last_status=value.last_status,
            last_error=value.last_error,
            last_duration_ms=value.last_duration_ms,
            last_attempt_at=value.last_attempt_at,
            row_id=value.id,
        )

    @strawberry.field(description="Its newest `last` tries, oldest first.")
    async def tries(self, info: Info, last: int = 20) -> list[DeliveryTry]:
        loaders: dict[int, DataLoader[int, list[registry.DeliveryTry]]]
        loaders = ctx(info).memo.setdefault(TRIES, {})
        if last not in loaders:

            async def load(keys: list[int]) -> list[list[registry.DeliveryTry]]:
                found = await webhooks.tries(keys, last=last)
                return [found.get(key, []) for key in keys]

            loaders[last] = DataLoader(load)
        return [DeliveryTry.from_domain(t) for t in await loaders[last].load(self.row_id)]


@strawberry.type(description="A URL that receives signed deliveries of chosen process events.")
class Webhook:
    id: strawberry.ID
    url: str
    description: str
    topics: list[WebhookTopic]
    process_ids: list[strawberry.ID] = strawberry.field(description="Empty: every process.")
    stages: list[str] = strawberry.field(
        description="Events entering or leaving these stages; empty: any."
    )
    entities: list[str] = strawberry.field(description="Empty: every entity.")
    status: WebhookStatus
    paused_reason: str | None = strawberry.field(
        description="Who paused it, or the failures in a row that did."
    )
    consecutive_failures: int
    version: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    webhook_id: strawberry.Private[int]

    @classmethod
    def from_domain(cls, value: domain.Webhook) -> Webhook:
        assert value.id is not None
        return cls(
            id=strawberry.ID(str(value.id)),
            url=value.url,
            description=value.description,
            topics=sorted(value.topics, key=lambda t: t.value),
            process_ids=[strawberry.ID(str(p)) for p in sorted(value.process_ids)],
            stages=sorted(value.stages),
            entities=sorted(value.entities),
            status=value.status,
            paused_reason=value.paused_reason,
            consecutive_failures=value.failures,
            version=value.version,
            created_by=value.created_by,
            created_at=value.created_at,
            updated_at=value.updated_at,
            webhook_id=value.id,
        )

    @strawberry.field(description="Its delivery log, newest first.")
    async def deliveries(
        self, first: int = 20, after: str | None = None, state: DeliveryState | None = None
    ) -> Connection[Delivery]:
        page = await webhooks.deliveries(self.webhook_id, state=state, first=first, after=after)
        return connection(page, Delivery.from_domain)  # type: ignore[arg-type]


# Inputs


@strawberry.input
class CreateWebhookInput:
    url: str = strawberry.field(description="An absolute https:// or http:// URL.")
    topics: list[WebhookTopic]
    description: str = ""
    process_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    stages: list[str] = strawberry.field(default_factory=list)
    entities: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="What is given changes; what is left out stays.")
class UpdateWebhookInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The version read; refused if it changed since."
    )
    url: str | None = None
    description: str | None = None
    topics: list[WebhookTopic] | None = None
    process_ids: list[strawberry.ID] | None = None
    stages: list[str] | None = None
    entities: list[str] | None = None


@strawberry.input
class WebhookInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class RedeliverDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery's id (its uid).")


# Results


@strawberry.type(description="Its secret signs every delivery; it is shown this once.")
class WebhookCreated:
    webhook: Webhook
    secret: str


@strawberry.type
class WebhookSaved:
    webhook: Webhook


@strawberry.type(description="Removed: nothing more is delivered; what waited is given up.")
class WebhookDeleted:
    webhook: Webhook


@strawberry.type(description="The new secret signs every try from now on; shown this once.")
class WebhookSecretRenewed:
    webhook: Webhook
    secret: str


@strawberry.type(description="The delivery goes out again at once, with the same id.")
class DeliveryScheduled:
    delivery: Delivery


CreateWebhookResult = Annotated[
    WebhookCreated | InvalidValue, strawberry.union("CreateWebhookResult")
]
UpdateWebhookResult = Annotated[
    WebhookSaved | InvalidValue | NotFound | VersionConflict,
    strawberry.union("UpdateWebhookResult"),
]
WebhookStatusResult = Annotated[
    WebhookSaved | NotFound | VersionConflict, strawberry.union("WebhookStatusResult")
]
DeleteWebhookResult = Annotated[
    WebhookDeleted | NotFound | VersionConflict, strawberry.union("DeleteWebhookResult")
]
RenewWebhookSecretResult = Annotated[
    WebhookSecretRenewed | NotFound | VersionConflict,
    strawberry.union("RenewWebhookSecretResult"),
]
RedeliverDeliveryResult = Annotated[
    DeliveryScheduled | InvalidTransition | NotFound, strawberry.union("RedeliverDeliveryResult")
]


def _process_ids(raw: Iterable[strawberry.ID] | None) -> list[int] | None:
    """Process ids of a filter; one that cannot be an id names no process."""
    if raw is None:
        return None
    ids, wrong = [], []
    for item in raw:
        try:
            ids.append(parse_id("Process", item))
        except NotFoundError:
            wrong.append(str(item)[:40])
    if wrong:
        raise registry.unknown("processIds", "process with the id", wrong)
    return ids


def _webhook_id(raw: strawberry.ID) -> int:
    return parse_id("Webhook", raw)


@strawberry.type
class WebhookQuery:
    """Webhooks: designers and admins only (the access policy reads these fields)."""

    @strawberry.field(description="Every webhook registered, oldest first.")
    async def webhooks(self) -> list[Webhook]:
        return [Webhook.from_domain(w) for w in await webhooks.list_webhooks()]

    @strawberry.field
    async def webhook(self, id: strawberry.ID) -> Webhook | None:
        try:
            return Webhook.from_domain(await webhooks.get_webhook(_webhook_id(id)))
        except NotFoundError:
            return None


@strawberry.type
class WebhookMutation:
    """Webhooks: designers and admins only (the access policy reads these fields)."""

    @strawberry.mutation(description="Register a webhook; it hears of events from now on.")
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreateWebhookResult:
        made = await webhooks.create_webhook(
            ctx(info).runtime,
            url=input.url,
            description=input.description,
            topics=input.topics,
            process_ids=_process_ids(input.process_ids) or (),
            stages=input.stages,
            entities=input.entities,
            by=ctx(info).actor,
            reach_private=ctx(info).webhooks_reach_private,
        )
        return WebhookCreated(webhook=Webhook.from_domain(made.webhook), secret=made.secret)

    @strawberry.mutation(description="Change a webhook's URL, description, topics or filters.")
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> UpdateWebhookResult:
        saved = await webhooks.update_webhook(
            ctx(info).runtime,
            webhook_id=_webhook_id(input.id),
            expected_version=input.expected_version,
            url=input.url,
            description=input.description,
            topics=input.topics,
            process_ids=_process_ids(input.process_ids),
            stages=input.stages,
            entities=input.entities,
            by=ctx(info).actor,
            reach_private=ctx(info).webhooks_reach_private,
        )
        return WebhookSaved(webhook=Webhook.from_domain(saved))

    @strawberry.mutation(description="Remove a webhook: what waits is given up.")
    async def delete_webhook(self, info: Info, input: WebhookInput) -> DeleteWebhookResult:
        gone = await webhooks.delete_webhook(ctx(info).runtime, **_args(info, input))
        return WebhookDeleted(webhook=Webhook.from_domain(gone))

    @strawberry.mutation(description="Hold its deliveries until it is resumed.")
    async def pause_webhook(self, info: Info, input: WebhookInput) -> WebhookStatusResult:
        saved = await webhooks.pause_webhook(ctx(info).runtime, **_args(info, input))
        return WebhookSaved(webhook=Webhook.from_domain(saved))

    @strawberry.mutation(description="Deliver again; what waited goes out at once.")
    async def resume_webhook(self, info: Info, input: WebhookInput) -> WebhookStatusResult:
        saved = await webhooks.resume_webhook(ctx(info).runtime, **_args(info, input))
        return WebhookSaved(webhook=Webhook.from_domain(saved))

    @strawberry.mutation(description="A new signing secret, shown once; the old one stops.")
    async def renew_webhook_secret(
        self, info: Info, input: WebhookInput
    ) -> RenewWebhookSecretResult:
        renewed = await webhooks.renew_secret(ctx(info).runtime, **_args(info, input))
        return WebhookSecretRenewed(
            webhook=Webhook.from_domain(renewed.webhook), secret=renewed.secret
        )

    @strawberry.mutation(description="Send a delivered or failed delivery again, at once.")
    async def redeliver_delivery(
        self, info: Info, input: RedeliverDeliveryInput
    ) -> RedeliverDeliveryResult:
        sent = await webhooks.redeliver(
            ctx(info).runtime, delivery_uid=str(input.id), by=ctx(info).actor
        )
        return DeliveryScheduled(delivery=Delivery.from_domain(sent))


def _args(info: Info, input: WebhookInput) -> dict[str, Any]:
    return {
        "webhook_id": _webhook_id(input.id),
        "expected_version": input.expected_version,
        "by": ctx(info).actor,
    }
