"""Webhooks: which events a webhook hears of, how a delivery is signed, when it is tried again.

An event is delivered to a webhook once, whatever number of topics it carries for it: an
advance is both "stage left" and "stage entered", a finish both "stage left" and "finished".
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import ipaddress
import random
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from server.domain.errors import InvalidValue
from server.domain.events import Event


class WebhookTopic(enum.Enum):
    STAGE_ENTERED = "STAGE_ENTERED"
    STAGE_LEFT = "STAGE_LEFT"
    STEP_COMPLETED = "STEP_COMPLETED"
    FINISHED = "FINISHED"
    ABANDONED = "ABANDONED"
    REACTIVATED = "REACTIVATED"
    PROCESS_SWITCHED = "PROCESS_SWITCHED"
    INSTANCE_MIGRATED = "INSTANCE_MIGRATED"
    STAGE_OVERDUE = "STAGE_OVERDUE"


class WebhookStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


class DeliveryState(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


_T = WebhookTopic
# The topics of each kind of event (by the kind's name); kinds not here reach no webhook.
_TOPICS: dict[str, frozenset[WebhookTopic]] = {
    "INSTANCE_STARTED": frozenset({_T.STAGE_ENTERED}),
    "STAGE_ADVANCED": frozenset({_T.STAGE_LEFT, _T.STAGE_ENTERED}),
    "STAGE_MOVED_BACK": frozenset({_T.STAGE_LEFT, _T.STAGE_ENTERED}),
    "INSTANCE_FINISHED": frozenset({_T.STAGE_LEFT, _T.FINISHED}),
    "INSTANCE_ABANDONED": frozenset({_T.STAGE_LEFT, _T.ABANDONED}),
    "INSTANCE_REACTIVATED": frozenset({_T.REACTIVATED, _T.STAGE_ENTERED}),
    "STEP_COMPLETED": frozenset({_T.STEP_COMPLETED}),
    "PROCESS_SWITCHED": frozenset({_T.PROCESS_SWITCHED}),
    "INSTANCE_MIGRATED": frozenset({_T.INSTANCE_MIGRATED}),
    "STAGE_OVERDUE": frozenset({_T.STAGE_OVERDUE}),
}
# The kinds of event any webhook may hear of: the planner reads only these.
DELIVERED_KINDS = frozenset(_TOPICS)


def topics_of(event: Event) -> frozenset[WebhookTopic]:
    """What an event is, in a webhook's words."""
    topics = _TOPICS.get(event.kind.value, frozenset())
    if event.kind.value == "INSTANCE_MIGRATED" and event.from_stage != event.to_stage:
        # A migration that maps the record to another stage leaves one and enters another.
        topics = topics | {_T.STAGE_LEFT, _T.STAGE_ENTERED}
    return topics


@dataclass(frozen=True)
class Webhook:
    id: int | None
    url: str
    description: str
    topics: frozenset[WebhookTopic]
    process_ids: frozenset[int]
    stages: frozenset[str]
    entities: frozenset[str]
    status: WebhookStatus
    paused_reason: str | None
    failures: int
    since_seq: int
    version: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def wants(self, event: Event, *, entity: str | None) -> frozenset[WebhookTopic]:
        """The topics of `event` this webhook hears of (none: it is not delivered to it)."""
        if (event.seq or 0) <= self.since_seq:
            return frozenset()
        if self.process_ids and event.process_id not in self.process_ids:
            return frozenset()
        if self.entities and entity not in self.entities:
            return frozenset()
        if self.stages and not ({event.from_stage, event.to_stage} & self.stages):
            return frozenset()
        return topics_of(event) & self.topics


MAX_URL_LENGTH = 2000
MAX_FILTER_ITEMS = 100


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidValue("url", f"a webhook URL has 1 to {MAX_URL_LENGTH} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidValue("url", "a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidValue("url", "this is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidValue("url", "a webhook URL starts with https:// or http://")
    if not parts.hostname:
        raise InvalidValue("url", "a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidValue("url", "a webhook URL carries no user name or password")
    if parts.fragment:
        raise InvalidValue("url", "a webhook URL has no #fragment")
    if port == 0:
        raise InvalidValue("url", "a webhook URL's port is 1 to 65535")
    return url


def check_topics(topics: Iterable[WebhookTopic]) -> frozenset[WebhookTopic]:
    chosen = frozenset(topics)
    if not chosen:
        raise InvalidValue("topics", "a webhook hears of at least one kind of event")
    return chosen


def check_filter(name: str, items: Collection[object]) -> None:
    if len(items) > MAX_FILTER_ITEMS:
        raise InvalidValue(name, f"a webhook filters by at most {MAX_FILTER_ITEMS} {name}")


def new_secret() -> str:
    """A signing secret, shown once when the webhook is made (or its secret renewed)."""
    return "whsec_" + secrets.token_urlsafe(32)


SIGNATURE_HEADER = "Stageflow-Signature"


def signature(secret: str, *, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the secret>`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay(attempts: int, *, first: float, longest: float) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling from `first` up to
    `longest`, each between half and all of it (jitter, so receivers coming back are not hit
    by every sender at once)."""
    base = min(longest, first * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.5, 1.0)


def forbidden_address(address: str) -> bool:
    """Whether an address is loopback, private, link-local (cloud metadata), shared,
    reserved, multicast or unspecified: anything but the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
