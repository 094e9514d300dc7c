"""What running an operation costs, before it runs.

Each field costs 1. A field with a `first` argument multiplies the cost of its selection by
`first`, which must be at most `MAX_PAGE`; a connection's `edges` are that page, not another
list. A list without `first` multiplies by `LIST_FACTOR`. Introspection fields are free.
Each fragment is priced once, however many times it is spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

from server.services.queries import MAX_PAGE

TOO_COSTLY = "QUERY_TOO_COSTLY"
PAGE_ARGUMENT = "first"
# What a list without `first` is taken to hold. Most are bounded by a definition (at most
# 30 stages of at most 30 steps), but the ready-to-use processes have 3-6 stages of about 5
# steps, and a record runs a process or two: 5 prices a typical list. Pricing every list at
# its worst case (30) would refuse ordinary queries (30 x 30 per listed instance); with 5,
# each list nested in another still makes the query five times dearer.
LIST_FACTOR = 5


def is_introspection(node: FieldNode) -> bool:
    return node.name.value.startswith("__")


class _Cost:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables
        self.defaults: dict[str, Any] = {}
        self._memo: dict[tuple[str, bool], int] = {}
        self.oversized: tuple[FieldNode, int] | None = None

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
        if definition is None:
            return 1
        kind = get_named_type(definition.type)
        listed = is_list_type(get_nullable_type(definition.type))
        if PAGE_ARGUMENT in definition.args:
            size = self.page_size(node, definition)
            inner = self.selections(node.selection_set, kind, paged=not listed)
            return 1 + size * inner
        inner = self.selections(node.selection_set, kind, paged=False)
        if listed:
            return 1 + (1 if paged else LIST_FACTOR) * inner
        return 1 + inner

    def page_size(self, node: FieldNode, definition: GraphQLField) -> int:
        value: Any = definition.args[PAGE_ARGUMENT].default_value
        for argument in node.arguments or ():
            if argument.name.value != PAGE_ARGUMENT:
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                value = self.variables.get(name, self.defaults.get(name, value))
            else:
                value = None
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_PAGE  # not a number: coercion refuses it; until then, the worst case
        if value > MAX_PAGE and self.oversized is None:
            self.oversized = (node, value)
        return max(value, 0)


def cost_error(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    max_cost: int,
) -> GraphQLError | None:
    """Why the operation costs too much to run, or None."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None  # which operation to run is unclear: execution refuses it
    cost = _Cost(schema, document, variables or {})
    total = cost.operation(operation)
    if cost.oversized is not None:
        node, size = cost.oversized
        return GraphQLError(
            f"{node.name.value}({PAGE_ARGUMENT}: {size}) asks for too many items: "
            f"a page holds 1 to {MAX_PAGE} items.",
            node,
            extensions={"code": TOO_COSTLY, "first": size, "maxFirst": MAX_PAGE},
        )
    if total > max_cost:
        return GraphQLError(
            f"The query would cost {total}; the limit is {max_cost}. "
            "Ask for smaller pages or fewer nested lists.",
            operation,
            extensions={"code": TOO_COSTLY, "cost": total, "maxCost": max_cost},
        )
    return None
