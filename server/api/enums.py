"""Domain enums, exposed to GraphQL: defined once, in the domain, and registered here."""

from __future__ import annotations

import strawberry

from server.domain.errors import TransitionCode
from server.domain.events import EventKind
from server.domain.fields import FieldType
from server.domain.instance import InstanceStatus
from server.domain.process import ProcessStatus, StageCategory
from server.domain.progress import StageState
from server.domain.webhook import DeliveryState, WebhookStatus, WebhookTopic

for _enum in (
    FieldType,
    StageCategory,
    ProcessStatus,
    InstanceStatus,
    StageState,
    EventKind,
    TransitionCode,
    WebhookTopic,
    WebhookStatus,
    DeliveryState,
):
    strawberry.enum(_enum)

__all__ = [
    "DeliveryState",
    "EventKind",
    "FieldType",
    "InstanceStatus",
    "ProcessStatus",
    "StageCategory",
    "StageState",
    "TransitionCode",
    "WebhookStatus",
    "WebhookTopic",
]
