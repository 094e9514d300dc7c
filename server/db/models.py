"""Tortoise models: the tables. Only `server.db` imports this module."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class EntityRow(Model):
    key = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=100)
    fields_: Any = fields.JSONField(source_field="fields")

    class Meta:
        table = "entity"


class ProcessRow(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=100)
    entity: fields.ForeignKeyRelation[EntityRow] = fields.ForeignKeyField(
        "models.EntityRow", related_name="processes", on_delete=fields.RESTRICT
    )
    status = fields.CharField(max_length=16)
    position = fields.IntField(default=0)
    # 0 until the first version is published.
    current_version = fields.IntField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # The definition being designed, in file form; may break rules until published.
    draft: Any = fields.JSONField(null=True)
    # Bumped by every draft edit and by publishing: the designer's compare-and-set token.
    draft_version = fields.IntField(default=0, db_default=0)
    draft_updated_at = fields.DatetimeField(null=True)
    draft_updated_by = fields.CharField(max_length=200, null=True)
    # Roles that may run the process; empty: every signed-in user.
    roles: Any = fields.JSONField(default=list, db_default="[]")

    entity_id: str

    class Meta:
        table = "process"


class ProcessVersionRow(Model):
    id = fields.IntField(primary_key=True)
    process: fields.ForeignKeyRelation[ProcessRow] = fields.ForeignKeyField(
        "models.ProcessRow", related_name="versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    definition: Any = fields.JSONField()
    published_at = fields.DatetimeField()
    published_by = fields.CharField(max_length=200, default="system", db_default="system")

    process_id: int

    class Meta:
        table = "process_version"
        unique_together = (("process", "number"),)


class RecordRow(Model):
    id = fields.IntField(primary_key=True)
    entity: fields.ForeignKeyRelation[EntityRow] = fields.ForeignKeyField(
        "models.EntityRow", related_name="records", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    owner = fields.CharField(max_length=200, db_index=True)
    values: Any = fields.JSONField()
    version = fields.IntField()
    active_instance_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    entity_id: str

    class Meta:
        table = "record"
        # A board lane with few records finds them from their instances (migration 0010).
        indexes = (Index(fields=("active_instance_id",)),)


class InstanceRow(Model):
    id = fields.IntField(primary_key=True)
    record: fields.ForeignKeyRelation[RecordRow] = fields.ForeignKeyField(
        "models.RecordRow", related_name="instances", on_delete=fields.CASCADE
    )
    process: fields.ForeignKeyRelation[ProcessRow] = fields.ForeignKeyField(
        "models.ProcessRow", related_name="instances", on_delete=fields.RESTRICT
    )
    process_version = fields.IntField()
    status = fields.CharField(max_length=16, db_index=True)
    active_stage = fields.CharField(max_length=64, db_index=True)
    path: Any = fields.JSONField()
    version = fields.IntField()
    started_at = fields.DatetimeField()
    active_since = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    # How it ended (an outcome key of its process version) and why; who finished or
    # abandoned it. All null while it runs.
    outcome = fields.CharField(max_length=64, null=True)
    outcome_reason = fields.CharField(max_length=500, null=True)
    completed_by = fields.CharField(max_length=200, null=True)
    # When the open stay is due (its stage's due, counted from when it began); null when
    # the stage has no due or no stay is open. The same as that stay's `due_at`.
    due_at = fields.DatetimeField(null=True)

    record_id: int
    process_id: int

    class Meta:
        table = "instance"
        # One run per (record, process): switching back resumes it.
        unique_together = (("record", "process"),)
        # The lists filtered by process, stage and status, walked in id order.
        indexes = (
            Index(fields=("process_id", "active_stage", "status", "id")),
            Index(fields=("status", "id")),
            # Stuck instances (server/db/insights.py): a process's instances by status and
            # since when they are in their stage. The insights' covering indexes over
            # starts, ends and stays are migration 0015's.
            Index(fields=("process_id", "status", "active_since")),
        )


# A record an instance crossed into: the records of a process's later entities. The
# instance's own record (`instance.record_id`) is that of its first entity.
class InstanceLinkRow(Model):
    id = fields.IntField(primary_key=True)
    instance: fields.ForeignKeyRelation[InstanceRow] = fields.ForeignKeyField(
        "models.InstanceRow", related_name="links", on_delete=fields.CASCADE
    )
    record: fields.ForeignKeyRelation[RecordRow] = fields.ForeignKeyField(
        "models.RecordRow", related_name="links", on_delete=fields.CASCADE
    )
    # Copied from the instance and the record: one record per entity on an instance, and a
    # record on at most one instance of a process (its own or crossed into).
    process_id = fields.IntField()
    entity = fields.CharField(max_length=64)
    linked_at = fields.DatetimeField()

    instance_id: int
    record_id: int

    class Meta:
        table = "instance_link"
        unique_together = (("instance", "entity"), ("record", "process_id"))


class VisitRow(Model):
    id = fields.IntField(primary_key=True)
    instance: fields.ForeignKeyRelation[InstanceRow] = fields.ForeignKeyField(
        "models.InstanceRow", related_name="visits", on_delete=fields.CASCADE
    )
    n = fields.IntField()
    stage = fields.CharField(max_length=64)
    entered_at = fields.DatetimeField()
    exited_at = fields.DatetimeField(null=True)
    entered_by = fields.CharField(max_length=200)
    # When the stay is due (null: its stage has no due), and when its one overdue event
    # was written (null: not yet). Partial indexes serve the scan for overdue stays
    # (migration 0012).
    due_at = fields.DatetimeField(null=True)
    overdue_at = fields.DatetimeField(null=True)

    instance_id: int

    class Meta:
        table = "stage_visit"
        unique_together = (("instance", "n"),)


class EventRow(Model):
    seq = fields.BigIntField(primary_key=True, generated=False)
    kind = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=200)
    at = fields.DatetimeField()
    record_id = fields.IntField(null=True, db_index=True)
    instance_id = fields.IntField(null=True, db_index=True)
    process_id = fields.IntField(null=True, db_index=True)
    from_stage = fields.CharField(max_length=64, null=True)
    to_stage = fields.CharField(max_length=64, null=True)
    before: Any = fields.JSONField(null=True)
    after: Any = fields.JSONField(null=True)
    # A caller's idempotency key, unique per acting user, and a digest of the request it
    # came with: the same key with another request is refused, not answered.
    idempotency_key = fields.CharField(max_length=200, null=True)
    request_hash = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "event"
        unique_together = (("actor", "idempotency_key"),)


# Gap-free counters: each writer holds the row lock of its counter until commit. Events are
# numbered by the 'event' counter on SQLite; on PostgreSQL by a sequence (migration 0008).
class CounterRow(Model):
    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField()

    class Meta:
        table = "counter"


class UserRow(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    password_hash = fields.CharField(max_length=200)
    # "admin", "designer" or "user", then team roles that processes name.
    roles: Any = fields.JSONField()
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField()

    class Meta:
        table = "account"


# A sign-in session (cookie) or an API token (bearer), stored as a hash of its secret.
class CredentialRow(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[UserRow] = fields.ForeignKeyField(
        "models.UserRow", related_name="credentials", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    label = fields.CharField(max_length=100)
    secret_hash = fields.CharField(max_length=64, unique=True)
    # Sessions only: the token a cookie-authenticated mutation must echo in a header.
    csrf = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "credential"


# Sign-in attempts counted per key (a user name from an address, a user name, an address)
# within a window that starts at the key's first attempt; see server/db/accounts.py.
class SignInAttemptRow(Model):
    key = fields.CharField(max_length=200, primary_key=True)
    attempts = fields.IntField()
    # When the key's window began, in microseconds since the epoch: compared in SQL, as
    # a number, the same way on both databases.
    window_start = fields.BigIntField(db_index=True)

    class Meta:
        table = "sign_in_attempt"


# An address a user signed in from: attempts from it do not count against the user's own
# limit, so others' failures do not lock the user out where they usually sign in.
class SignInAddressRow(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[UserRow] = fields.ForeignKeyField(
        "models.UserRow", related_name="sign_in_addresses", on_delete=fields.CASCADE
    )
    address = fields.CharField(max_length=64)
    # Microseconds since the epoch of the last sign-in from the address.
    last_seen = fields.BigIntField()

    user_id: int

    class Meta:
        table = "sign_in_address"
        unique_together = (("user", "address"),)


# A URL that receives signed deliveries of chosen kinds of process event (server/domain/webhook.py).
class WebhookRow(Model):
    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=200, default="", db_default="")
    # Signs deliveries; never answered, logged or written to an event.
    secret = fields.CharField(max_length=100)
    # Which deliveries it wants: topics, and processes, stages and entities (empty: any).
    topics: Any = fields.JSONField()
    process_ids: Any = fields.JSONField()
    stages: Any = fields.JSONField()
    entities: Any = fields.JSONField()
    # ACTIVE, PAUSED (by a designer, or after failures in a row: `paused_reason` says).
    status = fields.CharField(max_length=16)
    paused_reason = fields.CharField(max_length=500, null=True)
    failures = fields.IntField(default=0)
    # Events after this seq are delivered to it: those committed once it was registered.
    since_seq = fields.BigIntField()
    version = fields.IntField()
    created_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # Set when removed: its deliveries stop, its log stays readable to the audit trail.
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook"


# One event for one webhook: delivered at least once, retried until it is, or given up.
class WebhookDeliveryRow(Model):
    id = fields.BigIntField(primary_key=True)
    # Sent as Stageflow-Delivery: the receiver's key to drop a duplicate.
    uid = fields.CharField(max_length=36, unique=True)
    webhook: fields.ForeignKeyRelation[WebhookRow] = fields.ForeignKeyField(
        "models.WebhookRow", related_name="deliveries", on_delete=fields.CASCADE
    )
    seq = fields.BigIntField()
    kind = fields.CharField(max_length=32)
    topics: Any = fields.JSONField()
    instance_id = fields.IntField(null=True)
    # PENDING (to send, or being sent while `lease_until` is ahead), DELIVERED, FAILED.
    state = fields.CharField(max_length=16)
    attempts = fields.IntField(default=0)
    next_at = fields.DatetimeField()
    lease = fields.CharField(max_length=36, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)
    last_error = fields.CharField(max_length=300, null=True)
    last_duration_ms = fields.IntField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)

    webhook_id: int

    class Meta:
        table = "webhook_delivery"
        unique_together = (("webhook", "seq"),)
        indexes = (
            Index(fields=("state", "next_at")),
            Index(fields=("webhook_id", "instance_id", "seq")),
        )


# Each try of a delivery, for its log.
class WebhookAttemptRow(Model):
    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDeliveryRow] = fields.ForeignKeyField(
        "models.WebhookDeliveryRow", related_name="tries", on_delete=fields.CASCADE
    )
    n = fields.IntField()
    at = fields.DatetimeField()
    status = fields.IntField(null=True)
    error = fields.CharField(max_length=300, null=True)
    duration_ms = fields.IntField()
    # When a failed try set the next one for (none: delivered, or given up).
    retry_at = fields.DatetimeField(null=True)

    delivery_id: int

    class Meta:
        table = "webhook_attempt"
