"""Domain enums, exposed to GraphQL (defined once, in the domain)."""

from __future__ import annotations

import strawberry

from server.domain import errors, events, fields, instance, process, progress

FieldType = strawberry.enum(fields.FieldType, name="FieldType")
StageCategory = strawberry.enum(process.StageCategory, name="StageCategory")
ProcessStatus = strawberry.enum(process.ProcessStatus, name="ProcessStatus")
InstanceStatus = strawberry.enum(instance.InstanceStatus, name="InstanceStatus")
StageState = strawberry.enum(progress.StageState, name="StageState")
EventKind = strawberry.enum(events.EventKind, name="EventKind")
TransitionCode = strawberry.enum(errors.TransitionCode, name="TransitionCode")
