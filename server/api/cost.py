"""What running an operation costs, before it runs.

Each field costs 1, and a list multiplies the cost of its selection by how long it can be:

- a paged list (a `first` or `last` argument) by the page asked for, at most `MAX_PAGE`; a
  connection's `edges` are that page, not another list;
- any other list by the longest it is in what is stored (`Shape`: the most stages of any
  published version, the most steps of any stage, the processes of an entity...), or by the
  bound the server keeps (roles, problems).

So the cost is an upper bound of the values an answer holds, known before any resolver
runs. Every list on the schema's cycles (an instance's events' instance's events...) is
paged, so each turn multiplies the cost by its page; a turn through single objects adds one
and is bounded by the depth limit. Introspection fields are free. Each fragment is priced
once and added at each of its spreads.

An operation costing more than `COSTLY` waits its turn at the worker's `CostlyGate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from strawberry.types import ExecutionContext

from server.domain import insights
from server.domain.access import MAX_ROLES
from server.domain.definition import MAX_PROBLEMS
from server.domain.outcome import MAX_OUTCOMES
from server.domain.process import MAX_ENTITIES
from server.domain.webhook import MAX_FILTER_ITEMS, WebhookTopic
from server.domain.webhook_registry import MAX_WEBHOOKS
from server.services.queries import MAX_PAGE

if TYPE_CHECKING:
    from server.db.catalog import Shape

TOO_COSTLY = "QUERY_TOO_COSTLY"
PAGE_ARGUMENTS = ("first", "last")


@functools.lru_cache(maxsize=8)
def list_lengths(shape: Shape, *, templates: int) -> dict[tuple[str, str], int]:
    """The longest each unpaged list of the schema can be, by (type, field); worked out once
    per shape (the catalog keeps one until a process is published or a field saved)."""
    steps = {"missingSteps": shape.steps}
    problems = {"problems": MAX_PROBLEMS}
    lengths = {
        "Query": {
            "processes": shape.processes,
            "entities": shape.entities,
            "templates": templates,
            "webhooks": MAX_WEBHOOKS,
        },
        "ProcessesReordered": {"processes": shape.processes},
        "FieldInUse": {"processes": shape.processes},
        "Record": {"instances": shape.processes_per_entity},
        "Entity": {"fields": shape.fields},
        "Field": {"choices": shape.choices},
        "Process": {"stages": shape.stages, "roles": MAX_ROLES, "outcomes": MAX_OUTCOMES},
        "InvalidOutcome": {"outcomes": MAX_OUTCOMES},
        "Stage": {"steps": shape.steps, "branches": shape.branches},
        "Instance": {
            "stages": shape.stages,
            "path": shape.stages,
            "records": MAX_ENTITIES,
            **steps,
        },
        "MigratedInstance": steps,
        "StageGateBlocked": steps,
        "User": {"roles": MAX_ROLES},
        "InvalidDefinition": problems,
        "InvalidMigration": problems,
        "ProcessDraft": problems,
        "Webhook": {
            "topics": len(WebhookTopic),
            **{name: MAX_FILTER_ITEMS for name in ("processIds", "stages", "entities")},
        },
        "Delivery": {"topics": len(WebhookTopic)},
        "Insights": {
            "funnel": insights.MAX_FIGURE_STAGES,
            "timeInStage": insights.MAX_FIGURE_STAGES,
            "throughput": insights.MAX_WEEKS,
            "owners": insights.MAX_OWNERS,
        },
        "Outcomes": {"outcomes": insights.MAX_FIGURE_OUTCOMES, "reasons": insights.MAX_REASONS},
        "Pipeline": {"byStage": insights.MAX_FIGURE_STAGES, "byMonth": insights.MAX_MONTHS + 1},
    }
    return {(kind, name): n for kind, fields in lengths.items() for name, n in fields.items()}


def is_introspection(node: FieldNode) -> bool:
    return node.name.value.startswith("__")


def page_argument(definition: GraphQLField) -> str | None:
    return next((name for name in PAGE_ARGUMENTS if name in definition.args), None)


class _Refusal(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


class _LengthsNeeded(Exception):
    """The document has an unpaged list: its cost needs the lengths of what is stored."""


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        lengths: Mapping[tuple[str, str], int] | None,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables
        self.lengths = lengths
        self.defaults: dict[str, Any] = {}
        self._memo: dict[tuple[str, bool], int] = {}

    def operation(self, operation: OperationDefinitionNode) -> int:
        for definition in operation.variable_definitions or ():
            if isinstance(definition.default_value, IntValueNode):
                self.defaults[definition.variable.name.value] = int(definition.default_value.value)
        root = self.schema.get_root_type(operation.operation)
        return self.selections(operation.selection_set, root, paged=False)

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        *,
        paged: bool,
    ) -> int:
        """`paged`: the selection of a connection, whose lists the page size already counts."""
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, paged=paged)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, kind, paged=paged)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, paged=paged)
        return total

    def spread(self, name: str, *, paged: bool) -> int:
        """A fragment's cost, worked out once and added at each spread."""
        key = (name, paged)
        if key not in self._memo:
            self._memo[key] = 0  # a cycle (refused by validation anyway) adds nothing
            fragment = self.fragments.get(name)
            if fragment is not None:
                kind = self.schema.get_type(fragment.type_condition.name.value)
                self._memo[key] = self.selections(fragment.selection_set, kind, paged=paged)
        return self._memo[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, *, paged: bool) -> int:
        if is_introspection(node):
            return 0
        definition: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 1 + self._leaf_list(parent, node, definition)
        kind = get_named_type(definition.type)
        listed = is_list_type(get_nullable_type(definition.type))
        argument = page_argument(definition)
        if argument is not None:
            size = self.page_size(node, definition, argument)
            return 1 + size * self.selections(node.selection_set, kind, paged=not listed)
        inner = self.selections(node.selection_set, kind, paged=False)
        if listed and not paged:
            return 1 + self.length(parent, node) * inner
        return 1 + inner

    def _leaf_list(
        self, parent: GraphQLNamedType | None, node: FieldNode, definition: GraphQLField | None
    ) -> int:
        """A list of scalars costs its length: each is a value of the answer."""
        if definition is None or not is_list_type(get_nullable_type(definition.type)):
            return 0
        return self.length(parent, node)

    def length(self, parent: GraphQLNamedType | None, node: FieldNode) -> int:
        if self.lengths is None:
            raise _LengthsNeeded
        key = (parent.name if parent else "", node.name.value)
        return self.lengths.get(key, MAX_PAGE)  # a list no one sized: a full page

    def page_size(self, node: FieldNode, definition: GraphQLField, argument: str) -> int:
        value: Any = definition.args[argument].default_value
        for given in node.arguments or ():
            if given.name.value != argument:
                continue
            if isinstance(given.value, IntValueNode):
                value = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                name = given.value.name.value
                value = self.variables.get(name, self.defaults.get(name, value))
            else:
                value = None
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_PAGE  # not a number: coercion refuses it; until then, the worst case
        if value < 1:
            # Refused before anything runs: a mutation asking for it would otherwise be
            # made, and only its answer refused.
            raise _Refusal(
                GraphQLError(
                    f"{argument}: a page holds 1 to {MAX_PAGE} items",
                    node,
                    extensions={"code": "INVALID_VALUE"},
                )
            )
        if value > MAX_PAGE:
            raise _Refusal(
                GraphQLError(
                    f"{node.name.value}({argument}: {value}) asks for too many items: "
                    f"a page holds 1 to {MAX_PAGE} items.",
                    node,
                    extensions={"code": TOO_COSTLY, argument: value, "maxPage": MAX_PAGE},
                )
            )
        return max(value, 0)


def cost_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    lengths: Mapping[tuple[str, str], int] | None,
) -> int | GraphQLError | None:
    """What the operation costs, or why it may not run whatever the limit; None: it has an
    unpaged list, and `lengths` were not given (see `list_lengths`)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0  # which operation to run is unclear: execution refuses it
    try:
        return _Cost(schema, document, variables or {}, lengths).operation(operation)
    except _Refusal as refusal:
        return refusal.error
    except _LengthsNeeded:
        return None


def too_costly(cost: int, max_cost: int) -> GraphQLError | None:
    if cost <= max_cost:
        return None
    return GraphQLError(
        f"The query would cost {cost}; the limit is {max_cost}. "
        "Ask for smaller pages or fewer nested lists.",
        extensions={"code": TOO_COSTLY, "cost": cost, "maxCost": max_cost},
    )


async def priced(context: ExecutionContext) -> int | GraphQLError:
    """What the valid document of `context` costs, or why it may not run."""
    # Most documents page every list they ask for: their cost needs no lengths.
    found = _cost(context, None)
    if found is None:
        found = _cost(context, await _lengths(context))
    assert found is not None
    return found


def _cost(
    context: ExecutionContext, lengths: dict[tuple[str, str], int] | None
) -> int | GraphQLError | None:
    assert context.graphql_document is not None
    return cost_of(
        context.schema._schema,
        context.graphql_document,
        operation_name=context.operation_name,
        variables=context.variables,
        lengths=lengths,
    )


async def _lengths(context: ExecutionContext) -> dict[tuple[str, str], int]:
    """How long the schema's unpaged lists are now (the catalog keeps what it takes)."""
    runtime = context.context.runtime
    return list_lengths(await runtime.catalog.shape(), templates=_templates())


@functools.cache
def _templates() -> int:
    from server.services.design import templates

    return len(templates())


class CostlyGate:
    """Operations that cost more than `COSTLY` run at most `COSTLY_AT_ONCE` at a time per
    worker, so that a crowd of them queues behind each other rather than ahead of the small
    reads everyone else sends. One per schema (an app)."""

    def __init__(self) -> None:
        self.semaphore = asyncio.Semaphore(COSTLY_AT_ONCE)
        self.running = 0
        self.most = 0  # the most that ran at once

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self.semaphore:
            self.running += 1
            self.most = max(self.most, self.running)
            try:
                yield
            finally:
                self.running -= 1


# A page of 100 instances with their bar is about 1,500; twenty such pages is the limit.
COSTLY = 2_000
COSTLY_AT_ONCE = 2
