"""Direct changes: a change whose answer is made of its own values runs without the general
executor, once its document has run in full.

An API client working records sends one mutation document again and again with other
variables: `mutation($id: ID!, $value: JSON) { completeStep(input: {instanceId: $id, field:
"budget", value: $value}) { __typename ... on StepCompleted { instance { version } } } }`.
Parsing, validating, pricing and limiting such a document does not depend on its variables,
so once it has run in full without an error it is planned: its variables' definitions, its
one root field, and how its answer is written. The same document sent again

- is signed in and access-checked as any request (the credential looked up; the field's
  roles and a session's CSRF token checked: server/api/access.py);
- has its variables coerced and the field's arguments built from them by graphql-core's own
  functions, as the executor does;
- is resolved by the field's own resolver, as Strawberry built it: the arguments converted to
  their inputs, each text checked against its maximum, the service called, and an expected
  failure mapped to its member of the result union;
- and is answered by writing the selection from the result: `__typename`, and fields that are
  plain values of what the change returned (an instance's `id`, `version`, `status`..., an
  event's `seq`, `kind`..., an error's `message`, `currentVersion`...), each serialized by its
  type as the executor serializes it.

Documents that need more run in full, as always: a field with a resolver of its own
(`instance { stages record }`, `event { before }`), fragments spread by name, directives,
a response key used twice, several root fields, or a field outside DIRECT_FIELDS. So does a
request the plan cannot take as it is (variables of the wrong type, an access refusal, an
error outside the result union): nothing was changed, and the full run answers it. The only
failures answered here are those after which the change may have been made: the database
lost while committing (503 `OUTCOME_UNKNOWN`), or an unexpected error, answered as the
executor answers them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    located_error,
    parse,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, is_awaitable
from graphql.type.definition import GraphQLResolveInfoHelpers
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import MaskErrors

from server.api import access
from server.api.asked import asked
from server.api.context import build_context
from server.db.outage import DatabaseUnavailable, OutcomeUnknown
from server.domain.errors import DomainError
from server.services.runtime import Runtime

log = logging.getLogger("stageflow.api")

# Changes to records and instances: their resolvers read who acts and nothing else of the
# request (no cookie is set, no header read).
DIRECT_FIELDS = frozenset(
    {
        "startInstance",
        "completeStep",
        "advanceStage",
        "moveToStage",
        "finishInstance",
        "abandonInstance",
        "reactivateInstance",
        "switchProcess",
        "createRecord",
        "updateRecord",
    }
)
MAX_PLANS = 512
MAX_TOKENS = 2000
UNEXPECTED = "Unexpected error."
UNAVAILABLE_STATUS = 503


@dataclass(frozen=True)
class _Written:
    """One entry of a selection: `__typename` (no attribute), or a plain field."""

    key: str
    attribute: str | None = None
    lists: int = 0  # how many lists the value is in
    nullable: bool = True
    leaf: Any = None  # the scalar or enum type that serializes a leaf
    inner: Selection | None = None  # an object's selection, by its concrete type


# What is written of an object, by the name of its concrete type.
Selection = dict[str, tuple[_Written, ...]]


@dataclass(frozen=True, eq=False)
class Plan:
    operation: OperationDefinitionNode
    node: FieldNode
    field: GraphQLField
    key: str  # the root field's response key
    selection: Selection


def plan_of(schema: GraphQLSchema, query: str, operation_name: str | None) -> Plan | None:
    """The plan of a document that may run directly, or None."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != len(document.definitions):
        return None  # fragments defined by name
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if len(chosen) != 1:
        return None
    operation = chosen[0]
    mutation = schema.mutation_type
    if (
        operation.operation is not OperationType.MUTATION
        or operation.directives
        or mutation is None
    ):
        return None
    if any(d.directives for d in operation.variable_definitions or ()):
        return None
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    node = roots[0]
    name = node.name.value
    if name not in DIRECT_FIELDS or node.directives or node.selection_set is None:
        return None
    root = mutation.fields[name]
    selection = _selection(schema, get_named_type(root.type), node.selection_set)
    if selection is None:
        return None
    key = node.alias.value if node.alias else name
    return Plan(operation=operation, node=node, field=root, key=key, selection=selection)


def _selection(schema: GraphQLSchema, kind: Any, selections: SelectionSetNode) -> Selection | None:
    """What is written of each concrete type `kind` may be, or None if not all plain."""
    concrete = schema.get_possible_types(kind) if is_abstract_type(kind) else [kind]
    found: Selection = {}
    for each in concrete:
        written: list[_Written] = []
        if not isinstance(each, GraphQLObjectType) or not _collect(
            schema, each, selections, written
        ):
            return None
        found[each.name] = tuple(written)
    return found


def _collect(
    schema: GraphQLSchema,
    kind: GraphQLObjectType,
    selections: SelectionSetNode,
    written: list[_Written],
) -> bool:
    """The fields selected of an object of type `kind`, in the order the executor writes
    them; False if one is not plain (or a key is used twice, which the executor merges)."""
    for selection in selections.selections:
        if selection.directives:
            return False
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            applies = condition is None or condition.name.value == kind.name
            if condition is not None and not applies:
                outer = schema.get_type(condition.name.value)
                applies = is_abstract_type(outer) and schema.is_sub_type(outer, kind)
            if applies and not _collect(schema, kind, selection.selection_set, written):
                return False
            continue
        if not isinstance(selection, FieldNode) or selection.arguments:
            return False  # a fragment spread by name; arguments
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if any(w.key == key for w in written):
            return False
        if name == "__typename":
            if selection.selection_set is not None:
                return False
            written.append(_Written(key))
            continue
        entry = _plain(schema, kind, name, key, selection.selection_set)
        if entry is None:
            return False
        written.append(entry)
    return True


def _plain(
    schema: GraphQLSchema,
    kind: GraphQLObjectType,
    name: str,
    key: str,
    selections: SelectionSetNode | None,
) -> _Written | None:
    """A field whose value is an attribute of its object, as written, or None."""
    definition = kind.fields.get(name)
    strawberry_field = definition.extensions.get("strawberry-definition") if definition else None
    if (
        definition is None
        or strawberry_field is None
        or strawberry_field.base_resolver is not None
        or strawberry_field.extensions
        or definition.args
        or not getattr(definition.resolve, "_is_default", False)
    ):
        return None
    nullable, lists, inner = _shape(definition.type)
    named = get_named_type(inner)
    attribute = strawberry_field.python_name
    if is_leaf_type(named):
        if selections is not None:
            return None
        return _Written(key, attribute, lists, nullable, leaf=named)
    if selections is None:
        return None
    nested = _selection(schema, named, selections)
    if nested is None:
        return None
    return _Written(key, attribute, lists, nullable, inner=nested)


def _shape(kind: GraphQLOutputType) -> tuple[bool, int, GraphQLOutputType]:
    """Whether the outermost value may be null, how many lists it is in, and what is in them."""
    nullable = not is_non_null_type(kind)
    lists = 0
    while True:
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        elif isinstance(kind, GraphQLList):
            lists += 1
            kind = kind.of_type
        else:
            return nullable, lists, kind


def write(value: Any, selection: Selection) -> dict[str, Any]:
    """An object as the executor writes the selection of it."""
    name = type(value).__strawberry_definition__.name
    out: dict[str, Any] = {}
    for entry in selection[name]:
        if entry.attribute is None:
            out[entry.key] = name
        else:
            found = getattr(value, entry.attribute)
            if found is None and not entry.nullable:
                raise TypeError(f"{name}.{entry.key} is null")
            out[entry.key] = _value(found, entry, entry.lists)
    return out


def _value(value: Any, entry: _Written, lists: int) -> Any:
    if value is None:
        return None
    if lists:
        return [_value(item, entry, lists - 1) for item in value]
    if entry.inner is not None:
        return write(value, entry.inner)
    return entry.leaf.serialize(value)


@dataclass
class Counts:
    answered: int = 0  # changes answered directly
    declined: int = 0  # planned, but run in full (a refusal, variables of the wrong type...)
    planned: int = 0  # documents planned


@dataclass
class DirectChanges:
    """One per app; plans are dropped least recently used first."""

    runtime: Runtime
    schema: GraphQLSchema
    counts: Counts = field(default_factory=Counts)
    _plans: OrderedDict[tuple[str, str | None], Plan | None] = field(default_factory=OrderedDict)

    async def answer(self, request: Request) -> Response | None:
        """The change's answer, or None: then it runs in full (and `learn` hears how)."""
        found = await asked(request)
        if found is None:
            return None
        plan = self._plans.get(found.key)
        if plan is None:
            return None
        self._plans.move_to_end(found.key)
        response = await self._run(request, plan, found.variables)
        if response is None:
            self.counts.declined += 1
        else:
            self.counts.answered += 1
        return response

    def learn(self, request: Request, response: Response) -> None:
        """After a request ran in full without an error: plan its document, if it may run
        directly, or remember that it may not."""
        found = getattr(request.state, "asked", None)
        if (
            found is None
            or found.key in self._plans
            or getattr(request.state, "ran_with_errors", True)
            or response.status_code != 200
        ):
            return
        plan = plan_of(self.schema, *found.key)
        self._plans[found.key] = plan
        if plan is not None:
            self.counts.planned += 1
        while len(self._plans) > MAX_PLANS:
            self._plans.popitem(last=False)

    async def _run(self, request: Request, plan: Plan, variables: Any) -> Response | None:
        if not isinstance(variables, dict | None):
            return None
        context = await build_context(self.runtime, request, None)
        name = plan.node.name.value
        if await access.check(context, OperationType.MUTATION, {name}) is not None:
            return None
        coerced = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None
        try:
            arguments = get_argument_values(plan.field, plan.node, coerced)
        except GraphQLError:
            return None
        mutation = self.schema.mutation_type
        assert mutation is not None and plan.field.resolve is not None
        info = GraphQLResolveInfo(
            name,
            [plan.node],
            plan.field.type,
            mutation,
            Path(None, plan.key, mutation.name),
            self.schema,
            {},
            None,
            plan.operation,
            coerced,
            context,
            is_awaitable,
            None,
            _HELPERS,
        )
        try:
            result = plan.field.resolve(None, info, **arguments)
            if inspect.isawaitable(result):
                result = await result
        except (DomainError, GraphQLError):
            return None  # refused before anything was written: the full run answers it
        except DatabaseUnavailable as error:
            if not isinstance(error, OutcomeUnknown):
                return None  # nothing was changed
            return self._failed(plan, error)
        except Exception as error:  # the change may have been made: answered, not run again
            return self._failed(plan, error)
        try:
            data = {plan.key: write(result, plan.selection)}
        except Exception as error:
            return self._failed(plan, error)
        return Response(_encode({"data": data}), media_type="application/json")

    def _failed(self, plan: Plan, error: Exception) -> Response:
        """What the executor answers when the field raised `error`."""
        located = located_error(error, [plan.node], [plan.key])
        status = 200
        if isinstance(error, DatabaseUnavailable):
            log.warning("database unavailable: %s", error)
            located.message = error.message
            located.extensions = {"code": error.code}
            status = UNAVAILABLE_STATUS
        else:
            log.error("%s", error, exc_info=error)
            located = MaskErrors(error_message=UNEXPECTED).anonymise_error(located)
        data = None if is_non_null_type(plan.field.type) else {plan.key: None}
        body = {"data": data, "errors": [located.formatted]}
        return Response(_encode(body), status_code=status, media_type="application/json")


def _encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _gather(values: Any) -> list[Any]:
    return list(await asyncio.gather(*values))


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=lambda values: None)
