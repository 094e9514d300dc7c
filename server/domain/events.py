"""Events: one per successful change, the audit trail and the live feed."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any


class EventKind(enum.Enum):
    RECORD_CREATED = "RECORD_CREATED"
    RECORD_UPDATED = "RECORD_UPDATED"
    INSTANCE_STARTED = "INSTANCE_STARTED"
    STEP_COMPLETED = "STEP_COMPLETED"
    STAGE_ADVANCED = "STAGE_ADVANCED"
    STAGE_MOVED_BACK = "STAGE_MOVED_BACK"
    INSTANCE_FINISHED = "INSTANCE_FINISHED"
    INSTANCE_ABANDONED = "INSTANCE_ABANDONED"
    INSTANCE_REACTIVATED = "INSTANCE_REACTIVATED"
    PROCESS_SWITCHED = "PROCESS_SWITCHED"
    INSTANCE_MIGRATED = "INSTANCE_MIGRATED"
    # A stay passed its stage's due: told once per stay, by Stageflow itself.
    STAGE_OVERDUE = "STAGE_OVERDUE"
    PROCESS_PUBLISHED = "PROCESS_PUBLISHED"
    PROCESS_DEACTIVATED = "PROCESS_DEACTIVATED"
    PROCESS_ACTIVATED = "PROCESS_ACTIVATED"
    PROCESS_ROLES_CHANGED = "PROCESS_ROLES_CHANGED"
    PROCESS_DRAFT_SAVED = "PROCESS_DRAFT_SAVED"
    PROCESS_DRAFT_DISCARDED = "PROCESS_DRAFT_DISCARDED"
    PROCESSES_REORDERED = "PROCESSES_REORDERED"
    FIELD_SAVED = "FIELD_SAVED"
    USER_CREATED = "USER_CREATED"
    USER_UPDATED = "USER_UPDATED"
    CREDENTIAL_CREATED = "CREDENTIAL_CREATED"
    CREDENTIAL_REVOKED = "CREDENTIAL_REVOKED"
    WEBHOOK_CREATED = "WEBHOOK_CREATED"
    WEBHOOK_UPDATED = "WEBHOOK_UPDATED"
    WEBHOOK_DELETED = "WEBHOOK_DELETED"
    WEBHOOK_PAUSED = "WEBHOOK_PAUSED"
    WEBHOOK_RESUMED = "WEBHOOK_RESUMED"
    WEBHOOK_SECRET_RENEWED = "WEBHOOK_SECRET_RENEWED"
    WEBHOOK_REDELIVERED = "WEBHOOK_REDELIVERED"


STAGE_KINDS = frozenset(
    {
        EventKind.INSTANCE_STARTED,
        EventKind.STAGE_ADVANCED,
        EventKind.STAGE_MOVED_BACK,
        EventKind.INSTANCE_FINISHED,
        EventKind.INSTANCE_ABANDONED,
        EventKind.INSTANCE_REACTIVATED,
        EventKind.INSTANCE_MIGRATED,
        EventKind.STAGE_OVERDUE,
    }
)

# About webhooks: only designers and admins read them in the audit trail.
WEBHOOK_KINDS = frozenset(
    {
        EventKind.WEBHOOK_CREATED,
        EventKind.WEBHOOK_UPDATED,
        EventKind.WEBHOOK_DELETED,
        EventKind.WEBHOOK_PAUSED,
        EventKind.WEBHOOK_RESUMED,
        EventKind.WEBHOOK_SECRET_RENEWED,
        EventKind.WEBHOOK_REDELIVERED,
    }
)

# Changes to who may see what: open connections re-check their access on these.
ACCESS_KINDS = frozenset(
    {
        EventKind.PROCESS_ROLES_CHANGED,
        EventKind.USER_UPDATED,
        EventKind.CREDENTIAL_REVOKED,
    }
)
# About accounts, not records: only admins read them in the audit trail.
ACCOUNT_KINDS = frozenset(
    {
        EventKind.USER_CREATED,
        EventKind.USER_UPDATED,
        EventKind.CREDENTIAL_CREATED,
        EventKind.CREDENTIAL_REVOKED,
    }
)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    actor: str
    at: dt.datetime
    record_id: int | None = None
    instance_id: int | None = None
    process_id: int | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    seq: int | None = None
