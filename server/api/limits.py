"""What a document may ask for, checked before any resolver runs, over HTTP and websockets.

- **length and tokens**: the parser refuses a source over `max_query_length` characters
  before reading it, and stops past `max_tokens` tokens (comments included);
- **depth**: fields nested in fields, the root fields at depth 1;
- **aliases**: fields renamed with an alias, counted at every fragment spread;
- **fields**: field selections, counted at every fragment spread. graphql-core's validation
  compares fields pairwise (OverlappingFieldsCanBeMergedRule): 750 repeats of
  `instance { id }`, 3,000 tokens, take it 1.3 s; 300 fields at most take it 0.2 s;
- **cost**: see `server.api.cost`; it depends on the variables, so it is checked per request;
- **number literals**: at most `MAX_NUMBER_LITERAL` characters; graphql-core would read
  one past Python's 4,300 digits with a crash;
- **operations**: a document of several operations names the one to run (`operationName`),
  as the GraphQL spec says; Strawberry would otherwise run the first.

Depth, aliases and fields are checked first, and abort validation, so the other rules never
see a document past them. Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` walk a
fragment again at each spread: 200 tokens of fragments each spreading the next one twice
keep them busy for 20 s. Here each fragment is measured once, and errors carry a code.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    Visitor,
    visit,
)
from graphql.validation import ASTValidationRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from server.api.cost import COSTLY, CostlyGate, is_introspection, priced, too_costly
from server.settings import Settings

TOO_LONG = "QUERY_TOO_LONG"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
NUMBER_TOO_LONG = "NUMBER_TOO_LONG"

# Characters of an Int or Float literal; no value of the schema needs a tenth of them.
MAX_NUMBER_LITERAL = 100

_SUGGESTION = re.compile(r"\s*Did you mean\b[^?]*\?")


@dataclass(frozen=True)
class Limits:
    max_query_length: int
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_fields: int
    max_cost: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_query_length=settings.max_query_length,
            max_tokens=settings.max_tokens,
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_fields=settings.max_fields,
            max_cost=settings.max_cost,
        )


class _Refused(ValidationAbortedError):
    """Raised by a validation rule, it ends validation and is its only error."""


# Walking a document: each fragment is measured once, whatever the number of its spreads.


class _Walk:
    """Depth, aliases and fields of the operations of one document."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._fields: dict[str, int] = {}

    def _spread(
        self, name: str, memo: dict[str, int], measure: Callable[[SelectionSetNode], int]
    ) -> int:
        if name not in memo:
            fragment = self.fragments.get(name)
            memo[name] = 0  # a cycle (refused by validation anyway) adds nothing
            memo[name] = measure(fragment.selection_set) if fragment else 0
        return memo[name]

    def depth(self, selection_set: SelectionSetNode | None) -> int:
        deepest = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if not is_introspection(selection):
                    deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._spread(selection.name.value, self._depths, self.depth))
        return deepest

    def aliases(self, selection_set: SelectionSetNode | None) -> int:
        count = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                count += (selection.alias is not None) + self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                count += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._spread(selection.name.value, self._aliases, self.aliases)
        return count

    def fields(self, selection_set: SelectionSetNode | None) -> int:
        count = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                count += 1 + self.fields(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                count += self.fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._spread(selection.name.value, self._fields, self.fields)
        return count


class _LongNumbers(Visitor):
    """Finds the first number literal longer than MAX_NUMBER_LITERAL characters."""

    found: IntValueNode | FloatValueNode | None = None

    def enter_int_value(self, node: IntValueNode, *_: object) -> Any:
        return self._check(node)

    def enter_float_value(self, node: FloatValueNode, *_: object) -> Any:
        return self._check(node)

    def _check(self, node: IntValueNode | FloatValueNode) -> Any:
        if len(node.value) > MAX_NUMBER_LITERAL:
            self.found = node
            return BREAK
        return None


def _number_refusal(document: DocumentNode) -> GraphQLError | None:
    finder = _LongNumbers()
    visit(document, finder)
    if finder.found is None:
        return None
    return _Refused(
        f"A number literal has {len(finder.found.value)} characters; the limit is "
        f"{MAX_NUMBER_LITERAL}.",
        finder.found,
        extensions={"code": NUMBER_TOO_LONG, "maxLength": MAX_NUMBER_LITERAL},
    )


def _document_refusal(document: DocumentNode, limits: Limits) -> GraphQLError | None:
    walk = _Walk(document)
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        depth = walk.depth(operation.selection_set)
        if depth > limits.max_depth:
            return _Refused(
                f"The query nests fields {depth} deep; the limit is {limits.max_depth}.",
                operation,
                extensions={"code": TOO_DEEP, "depth": depth, "maxDepth": limits.max_depth},
            )
        aliases = walk.aliases(operation.selection_set)
        if aliases > limits.max_aliases:
            return _Refused(
                f"The query uses {aliases} aliases; the limit is {limits.max_aliases}.",
                operation,
                extensions={
                    "code": TOO_MANY_ALIASES,
                    "aliases": aliases,
                    "maxAliases": limits.max_aliases,
                },
            )
        fields = walk.fields(operation.selection_set)
        if fields > limits.max_fields:
            return _Refused(
                f"The query selects {fields} fields; the limit is {limits.max_fields}.",
                operation,
                extensions={
                    "code": TOO_MANY_FIELDS,
                    "fields": fields,
                    "maxFields": limits.max_fields,
                },
            )
    return None


def validation_rules(limits: Limits, *, introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    """The rules to add to GraphQL validation; made once, so validation results can be cached.

    The first one must run before graphql-core's rules.
    """

    class DocumentLimits(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: object) -> None:
            try:
                error = _document_refusal(node, limits) or _number_refusal(node)
            except RecursionError:  # fragments nested far past any depth limit
                error = _Refused(
                    f"The query nests fields deeper than {limits.max_depth}.",
                    extensions={"code": TOO_DEEP, "maxDepth": limits.max_depth},
                )
            if error is not None:
                raise error

    if introspection:
        return (DocumentLimits,)
    return (DocumentLimits, _NoIntrospection)


class _NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with a code on its error, said once rather than at each field."""

    said = False

    def report_error(self, error: GraphQLError) -> None:
        if not self.said:
            self.said = True
            super().report_error(
                GraphQLError(
                    "Introspection is disabled on this server.",
                    error.nodes,
                    extensions={"code": INTROSPECTION_DISABLED},
                )
            )


class QueryLimits(SchemaExtension):
    """Sets the parser's limits, adds the validation rules, and checks the cost.

    List it after `ValidationCache`: the cost is checked once the document is valid.
    """

    def __init__(
        self, limits: Limits, rules: tuple[type[ASTValidationRule], ...], gate: CostlyGate
    ) -> None:
        self.limits = limits
        self.rules = rules
        self.gate = gate
        self.cost = 0

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # A source over the limit is refused before it is read, so it never reaches the
        # parser cache. `max_source_length` is missing from Strawberry's ParseOptions type.
        cast(dict[str, Any], context.parse_options)["max_source_length"] = (
            self.limits.max_query_length
        )
        # First, so that a document past the limits is refused before the other rules.
        context.validation_rules = (*self.rules, *context.validation_rules)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and _unnamed_choice(context):
            context.pre_execution_errors = [
                GraphQLError(
                    "The document holds several operations: name the one to run in operationName.",
                    extensions={"code": OPERATION_NAME_REQUIRED},
                )
            ]
        if context.pre_execution_errors is None:
            # Nothing validated the document yet (no ValidationCache before this extension).
            from strawberry.schema.schema import validate_document

            assert context.graphql_document is not None
            context.pre_execution_errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
        if not context.pre_execution_errors:
            assert context.graphql_document is not None
            found = await priced(context)
            error = found if isinstance(found, GraphQLError) else None
            if isinstance(found, int):
                self.cost = found
                error = too_costly(found, self.limits.max_cost)
            if error is not None:
                context.pre_execution_errors = [error]
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        operation = self.execution_context.operation_type
        if self.cost <= COSTLY or operation is OperationType.SUBSCRIPTION:
            yield
            return
        async with self.gate.turn():
            yield


def _unnamed_choice(context: ExecutionContext) -> bool:
    """Several operations and no operationName: which one runs is the client's to say.

    `operation_name` falls back to the first operation's name; the name the request gave is
    kept apart (a private attribute of Strawberry's, read here only).
    """
    document = context.graphql_document
    if document is None or getattr(context, "_provided_operation_name", None) is not None:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return len(operations) > 1


def word_for_clients(error: GraphQLError, limits: Limits, *, suggestions: bool) -> None:
    """Give the parser's refusals a code; drop "Did you mean ...?" unless asked to keep it."""
    if error.extensions is None or "code" not in error.extensions:
        if error.message.endswith(f"more than {limits.max_tokens} tokens. Parsing aborted."):
            error.extensions = {"code": TOO_MANY_TOKENS, "maxTokens": limits.max_tokens}
        elif error.message.endswith(
            f"more than {limits.max_query_length} code points. Parsing aborted."
        ):
            error.extensions = {"code": TOO_LONG, "maxLength": limits.max_query_length}
    if not suggestions and "Did you mean" in error.message:
        error.message = _SUGGESTION.sub("", error.message)
