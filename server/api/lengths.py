"""The most characters each text argument of the schema takes, said in the schema and
checked before its resolver runs.

Every `String` and `ID` argument, and every such field of an input, has a maximum: the
schema shows it as `@length(max: N)` (a list's maximum is each item's). A value past it is
refused before anything is read or written, as `InvalidValue` where the field's result
union has it, else as a GraphQL error with `extensions.code` `INVALID_VALUE`. The maxima
fit the columns the values are stored in or compared with, and the rules of the values
(a user name has at most 100 characters, a key 64...), so a value at its maximum is
never refused for its length further in.

Text inside `JSON` values (field values, definitions) is checked where it is read, field by
field; a whole request is at most STAGEFLOW_MAX_BODY_BYTES.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.schema.name_converter import NameConverter
from strawberry.schema_directive import Location
from strawberry.types.base import StrawberryList, StrawberryOptional, has_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from server.domain.access import MAX_PASSWORD
from server.domain.errors import InvalidValue
from server.domain.fields import MAX_SHORT_TEXT
from server.domain.outcome import MAX_REASON
from server.domain.validation import MAX_NAME
from server.domain.webhook import MAX_URL_LENGTH
from server.domain.webhook_registry import MAX_DESCRIPTION
from server.services.queries import MAX_KEY
from server.services.runtime import MAX_KEY_LENGTH
from server.services.webhooks import MAX_UID

ID_LENGTH = 20  # ids are numbers below 2^31; a cursor wraps one
CURSOR_LENGTH = 100
USER_NAME = 100
ROLE = 40
LABEL = 100
BOUND = 40  # a field's minimum or maximum, as decimal text

# By schema coordinate: `Type.field(argument:)`, or `Input.field` for a field of an input.
MAXIMA: dict[str, int] = {
    "Query.processes(entity:)": MAX_KEY,
    "Query.records(entity:)": MAX_KEY,
    "Query.records(search:)": MAX_SHORT_TEXT,
    "Query.records(owner:)": MAX_SHORT_TEXT,
    "Query.records(stage:)": MAX_KEY,
    "Query.records(after:)": CURSOR_LENGTH,
    "Query.instances(stage:)": MAX_KEY,
    "Query.instances(owner:)": MAX_SHORT_TEXT,
    "Query.instances(after:)": CURSOR_LENGTH,
    "Query.users(after:)": USER_NAME,
    "InsightsInput.owner": MAX_SHORT_TEXT,
    "InsightsInput.entity": MAX_KEY,
    "Mutation.reorderProcesses(entity:)": MAX_KEY,
    "Mutation.setProcessRoles(roles:)": ROLE,
    "Mutation.createApiToken(label:)": LABEL,
    "CreateProcessInput.template": MAX_KEY,
    "CreateProcessInput.key": MAX_KEY,
    "StageMapping.from": MAX_KEY,
    "StageMapping.to": MAX_KEY,
    "SaveFieldInput.entity": MAX_KEY,
    "SaveFieldInput.key": MAX_KEY,
    "SaveFieldInput.label": MAX_NAME,
    "SaveFieldInput.choices": MAX_NAME,
    "SignInInput.name": USER_NAME,
    "SignInInput.password": MAX_PASSWORD,
    "CreateUserInput.name": USER_NAME,
    "CreateUserInput.password": MAX_PASSWORD,
    "CreateUserInput.roles": ROLE,
    "UpdateUserInput.roles": ROLE,
    "UpdateUserInput.password": MAX_PASSWORD,
    "CreateRecordInput.entity": MAX_KEY,
    "CreateRecordInput.name": MAX_SHORT_TEXT,
    "CreateRecordInput.owner": MAX_SHORT_TEXT,
    "UpdateRecordInput.name": MAX_SHORT_TEXT,
    "UpdateRecordInput.owner": MAX_SHORT_TEXT,
    "CompleteStepInput.field": MAX_KEY,
    "CompleteStepInput.entity": MAX_KEY,
    "MoveToStageInput.stage": MAX_KEY,
    "FinishInstanceInput.outcome": MAX_KEY,
    "FinishInstanceInput.reason": MAX_REASON,
    "SaveFieldInput.currency": 3,
    "SaveFieldInput.target": MAX_KEY,
    "SaveFieldInput.minimum": BOUND,
    "SaveFieldInput.maximum": BOUND,
    "RedeliverDeliveryInput.id": MAX_UID,
    **{
        f"{name}.{field}": most
        for name in ("CreateWebhookInput", "UpdateWebhookInput")
        for field, most in (
            ("url", MAX_URL_LENGTH),
            ("description", MAX_DESCRIPTION),
            ("stages", MAX_KEY),
            ("entities", MAX_KEY),
        )
    },
    **{
        f"{name}.idempotencyKey": MAX_KEY_LENGTH
        for name in (
            "StartInstanceInput",
            "CompleteStepInput",
            "InstanceInput",
            "FinishInstanceInput",
            "MoveToStageInput",
            "SwitchProcessInput",
            "CreateRecordInput",
            "UpdateRecordInput",
        )
    },
}


@strawberry.schema_directive(
    name="length",
    locations=[Location.ARGUMENT_DEFINITION, Location.INPUT_FIELD_DEFINITION],
    description="The most characters the text (each text of a list) may have; a longer one "
    "is refused as InvalidValue, or an error with the code INVALID_VALUE.",
)
class Length:
    max: int


# What to check in an argument's value: a text with its maximum and GraphQL name, or the
# fields of an input, by Python name.
Check = tuple[str, int] | dict[str, "Check"]


def _check(value: Any, check: Check) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _check(item, check)
    elif isinstance(check, tuple):
        name, most = check
        if isinstance(value, str) and len(value) > most:
            raise InvalidValue(name, f"at most {most} characters")
    else:
        for attribute, inner in check.items():
            _check(getattr(value, attribute, None), inner)


@dataclass
class TextLengths(FieldExtension):
    """Refuses an argument past its maximum before the resolver runs."""

    checks: dict[str, Check]

    def _refuse(self, kwargs: dict[str, Any]) -> None:
        for name, check in self.checks.items():
            _check(kwargs.get(name), check)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        self._refuse(kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        self._refuse(kwargs)
        result = next_(source, info, **kwargs)
        # A subscription's resolver gives its stream, which is not awaited.
        return await result if inspect.isawaitable(result) else result


_names = NameConverter()


def _inner(kind: Any) -> Any:
    while isinstance(kind, StrawberryOptional | StrawberryList):
        kind = kind.of_type
    return kind


def _is_text(kind: Any) -> bool:
    return kind is str or kind is strawberry.ID


def _declare(where: str, kind: Any, owner: Any) -> int | None:
    """The maximum of a text at `where`, shown on `owner` (an argument or input field)."""
    most = MAXIMA.get(where, ID_LENGTH if kind is strawberry.ID else None)
    if most is not None and not any(isinstance(d, Length) for d in owner.directives):
        owner.directives = type(owner.directives)([*owner.directives, Length(max=most)])
    return most


def _input_checks(kind: Any) -> dict[str, Check]:
    definition = kind.__strawberry_definition__
    checks: dict[str, Check] = {}
    for field in definition.fields:
        inner = _inner(field.type)
        where = f"{definition.name}.{_names.get_graphql_name(field)}"
        if _is_text(inner):
            most = _declare(where, inner, field)
            if most is not None:
                checks[field.python_name] = (_names.get_graphql_name(field), most)
        elif has_object_definition(inner) and inner.__strawberry_definition__.is_input:
            checks[field.python_name] = _input_checks(inner)
    return checks


def _field_checks(type_name: str, field: StrawberryField) -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for argument in field.arguments:
        inner = _inner(argument.type)
        name = _names.get_graphql_name(argument)
        where = f"{type_name}.{_names.get_graphql_name(field)}({name}:)"
        if _is_text(inner):
            most = _declare(where, inner, argument)
            if most is not None:
                checks[argument.python_name] = (name, most)
        elif has_object_definition(inner) and inner.__strawberry_definition__.is_input:
            checks[argument.python_name] = _input_checks(inner)
    return checks


def limit_texts(roots: Iterable[type]) -> None:
    """Show every maximum in the schema and check it on the fields of `roots` (the Query,
    Mutation and Subscription types); once per process, before the schema is built."""
    for root in roots:
        definition = root.__strawberry_definition__  # type: ignore[attr-defined]
        for field in definition.fields:
            if any(isinstance(e, TextLengths) for e in field.extensions):
                continue
            checks = _field_checks(definition.name, field)
            if checks:
                field.extensions.append(TextLengths(checks))
